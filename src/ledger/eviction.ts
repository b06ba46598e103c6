/**
 * Who loses cached prefix blocks first, and why.
 *
 * Cached blocks are not in use: a tenant keeps them only in the hope of a later prefix hit. When a
 * pool has no clean or dirty block left, the ledger takes cached blocks of *other* tenants
 * (never owned blocks, which are in use). It takes them from the least important tenants first
 * (priority 5 before 4 … before 1) so that a free-tier burst cannot wipe out an enterprise
 * tenant's cache while a cheaper victim exists, and within one priority level the least recently
 * cached block first (plain LRU across the tenants of that level).
 *
 * Each pool keeps one LRU list per priority level, so choosing the victim list is a scan over the
 * fixed number of levels, independent of the number of blocks or tenants.
 */
import { PRIORITY_LEVELS } from '../priority.js';
import { type BlockLists, type ListId, NIL } from './block-lists.js';


/**
 * The non-empty per-priority LRU list of the least important level, or NIL when no cached block
 * is left. `byPriority[level - 1]` is the list of priority `level`.
 */
export function evictionList(lists: BlockLists, byPriority: readonly ListId[]): ListId {
  for (let level = PRIORITY_LEVELS; level >= 1; level--) {
    const list = byPriority[level - 1];
    if (list !== undefined && lists.length(list) > 0) return list;
  }
  return NIL;
}
