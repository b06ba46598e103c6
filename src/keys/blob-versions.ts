/**
 * The latest generation of every offloaded blob (issue 20.9: rollback). A file system can be made
 * to hold an older, perfectly authentic copy of a blob; only state kept elsewhere can tell that it
 * is not the latest. That state is the write-ahead audit log: every put records its blob's
 * generation (and every delete its removal) before the file changes, and replay at start feeds
 * them back here (src/enforcement/replay.ts). The offload store hands out generations from here
 * and serves a blob only if its authenticated generation is the latest one recorded.
 *
 * Generations are one counter for the whole store, so two puts never share one; the counter resumes
 * above the highest generation the log ever recorded. A put acknowledged to nobody (crashed before
 * its record) may leave a generation unused; that is harmless.
 */
export class BlobVersions {
  private readonly byTenant = new Map<string, Map<string, number>>();
  private highest = 0;

  /** A generation above every one handed out or recorded so far. */
  next(): number {
    this.highest++;
    return this.highest;
  }

  /** The generation a get must find, or undefined: no put of this blob is recorded (or it was deleted). */
  latest(tenant: string, blockKey: string): number | undefined {
    return this.byTenant.get(tenant)?.get(blockKey);
  }

  /**
   * A put of `generation` committed (live) or was recorded (replay). An older generation never
   * replaces a newer one: of two concurrent puts of one block key, the newer one is the blob.
   */
  put(tenant: string, blockKey: string, generation: number): void {
    if (generation > this.highest) this.highest = generation;
    const current = this.latest(tenant, blockKey);
    if (current === undefined || generation > current) this.set(tenant, blockKey, generation);
  }

  /** Sets (or, with undefined, clears) the latest generation exactly: deletes, and undoing an aborted record. */
  set(tenant: string, blockKey: string, generation: number | undefined): void {
    let blobs = this.byTenant.get(tenant);
    if (generation === undefined) {
      blobs?.delete(blockKey);
      if (blobs?.size === 0) this.byTenant.delete(tenant);
      return;
    }
    if (generation > this.highest) this.highest = generation;
    if (blobs === undefined) {
      blobs = new Map();
      this.byTenant.set(tenant, blobs);
    }
    blobs.set(blockKey, generation);
  }

  /** An erased tenant has no blobs. */
  forgetTenant(tenant: string): void {
    this.byTenant.delete(tenant);
  }
}
