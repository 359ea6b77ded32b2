// Which merge partition owns a url: the one Kafka's default partitioner gives the url as a key.
// Source tasks route a url's partials there; merge tasks check that a partial they read is theirs.

import { partitionForKey } from './murmur2.js';

/** Urls whose partition is remembered at once; past it the cache starts over. */
const CACHE_SIZE = 100_000;

export class UrlOwners {
  private readonly encoder = new TextEncoder();
  private readonly cache = new Map<string, number>();

  constructor(readonly partitions: number) {}

  of(url: string): number {
    let partition = this.cache.get(url);
    if (partition === undefined) {
      partition = partitionForKey(this.encoder.encode(url), this.partitions);
      // A cache, not a registry: clients can send any number of distinct urls.
      if (this.cache.size >= CACHE_SIZE) this.cache.clear();
      this.cache.set(url, partition);
    }
    return partition;
  }
}
