// Text from the input (urls come from every web client on the internet) printed for a person:
// control characters would let a client clear an operator's screen, set a terminal title, or
// forge table rows with newlines. Every C0 and C1 control, DEL, and the Unicode line separators
// and bidirectional overrides are shown as \u{XX} escapes instead; a backslash stays as it is.
// Pure.

const unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function printable(text: string): string {
  return text.replace(unsafe, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

/** The same for a JSON line already escaped by JSON.stringify (which leaves C1 and U+2028-like characters raw). */
export function printableJson(line: string): string {
  return line.replace(unsafe, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
