// What the job's HTTP servers answer at all. The dashboard shows the whole job, so a web page on
// another site must not read it: a DNS-rebinding page reaches 127.0.0.1 under its own host name,
// which the Host allow-list refuses (localhost and loopback addresses, plus the names given with
// --public-host). Only GET and HEAD are served; every answer carries headers that keep the page
// from being framed, sniffed or made to load anything from elsewhere. Pure.

/** Headers on every answer. */
export const securityHeaders: Record<string, string> = {
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

const loopbackNames = ['localhost', '127.0.0.1', '::1'];

/** The host names a request may carry: loopback, and the ones given on purpose. */
export function allowedHosts(publicHosts: readonly string[]): Set<string> {
  return new Set([...loopbackNames, ...publicHosts.map((h) => h.toLowerCase())]);
}

/** The host name of a Host header ("name:port", "[::1]:port"), lower-cased. */
export function hostName(header: string | undefined): string | undefined {
  if (header === undefined || header === '' || header.length > 255) return undefined;
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::\d+)?$/.exec(header);
  if (bracketed) return bracketed[1]!.toLowerCase();
  const plain = /^([A-Za-z0-9.-]+)(?::\d+)?$/.exec(header);
  return plain ? plain[1]!.toLowerCase() : undefined;
}

/** Why a request is refused (status and a short text), or undefined if it may be served. */
export function refusal(method: string | undefined, hostHeader: string | undefined, allowed: Set<string>, checkHost = true): { status: number; text: string } | undefined {
  if (method !== 'GET' && method !== 'HEAD') return { status: 405, text: 'only GET and HEAD\n' };
  if (!checkHost) return undefined;
  const host = hostName(hostHeader);
  if (host === undefined || !allowed.has(host)) return { status: 421, text: 'unknown host name; start the dashboard with --public-host NAME to serve it under another name\n' };
  return undefined;
}
