// Urls cross to the source job's thread as numbers: cloning a string per click cost the client
// thread about half of what moving the counting saved it. The client thread numbers each url the
// first time it sends it, and the job keeps the same list. Bounded whatever the input: past
// `capacity` urls, or `maxChars` characters of them, both sides start over at the next batch
// (hostile input can send any number of distinct urls, each up to --max-url-length).

export interface UrlIdsUpdate {
  /** The job drops every url it knows before taking `added`. */
  reset: boolean;
  /** Urls numbered from the job's current count on, in order. */
  added: string[];
}

/** The client thread's side. */
export class UrlIds {
  private readonly ids = new Map<string, number>();
  private added: string[] = [];
  private reset = false;
  private chars = 0;

  constructor(
    private readonly capacity = 100_000,
    private readonly maxChars = 4_000_000,
  ) {}

  id(url: string): number {
    let id = this.ids.get(url);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(url, id);
      this.added.push(url);
      this.chars += url.length;
    }
    return id;
  }

  /**
   * What the job must learn before the ids handed out since the last call mean anything. Called
   * once per batch: a batch's ids all belong to one numbering, so starting over waits for the next.
   */
  take(): UrlIdsUpdate {
    const update = { reset: this.reset, added: this.added };
    this.added = [];
    this.reset = this.ids.size >= this.capacity || this.chars >= this.maxChars;
    if (this.reset) {
      this.ids.clear();
      this.chars = 0;
    }
    return update;
  }
}

/** The job's side. */
export class UrlList {
  private readonly urls: string[] = [];

  apply(update: UrlIdsUpdate): void {
    if (update.reset) this.urls.length = 0;
    for (const url of update.added) this.urls.push(url);
  }

  url(id: number): string {
    const url = this.urls[id];
    if (url === undefined) throw new Error(`url id ${id} was never sent`);
    return url;
  }
}
