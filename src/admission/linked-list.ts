/**
 * A doubly-linked list whose nodes the caller keeps, so a request can leave the middle of a queue
 * (timeout, completion, tenant removal) in O(1). Arrays would make `shift` or removal O(n).
 */
export interface ListNode<T> {
  readonly value: T;
  prev: ListNode<T> | null;
  next: ListNode<T> | null;
  /** The list the node is in, or null once removed (removing twice is a no-op). */
  list: LinkedList<T> | null;
}

export class LinkedList<T> {
  private head: ListNode<T> | null = null;
  private tail: ListNode<T> | null = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The oldest node, or null. */
  first(): ListNode<T> | null {
    return this.head;
  }

  push(value: T): ListNode<T> {
    const node: ListNode<T> = { value, prev: this.tail, next: null, list: this };
    if (this.tail === null) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.count++;
    return node;
  }

  remove(node: ListNode<T>): void {
    if (node.list !== this) return;
    if (node.prev === null) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = null;
    node.next = null;
    node.list = null;
    this.count--;
  }

  shift(): T | undefined {
    const node = this.head;
    if (node === null) return undefined;
    this.remove(node);
    return node.value;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let node = this.head; node !== null; node = node.next) yield node.value;
  }
}
