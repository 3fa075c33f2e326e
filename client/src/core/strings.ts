// Ids and keys exactly as given, lone surrogates included. JS strings are UTF-16 and may hold
// a lone surrogate; the module's strings are UTF-8, and the conversion turns each lone
// surrogate into U+FFFD, so "a\uD800" and "a\uD801" would arrive as one id. Such a string
// (and, so no two strings collide, any string starting with the marker) crosses in an encoding
// that is well-formed and distinct:
//
//   MARK, then the string's code units, each lone surrogate u written as ESCAPE + (u - 0xD800
//   + 0xE000) and each ESCAPE written twice
//
// with MARK = U+FDD0 and ESCAPE = U+FDD1, two noncharacters (Unicode reserves them for a
// program's internal use). Every other string crosses unchanged, so nothing changes for the
// strings a server actually sends. The encoded form is what the signal store keeps and
// snapshots; `exportSignals` decodes it back. A lone surrogate counts 6 UTF-8 bytes towards an
// id's or key's 256, the marker 3.

const MARK = "\uFDD0";
const MARK_UNIT = 0xfdd0;
const ESCAPE = "\uFDD1";
const ESCAPED_BASE = 0xe000 - 0xd800;

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
/** Whether a string has no lone surrogate (natively where the engine has it: ES2024). */
const wellFormed: (text: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === "function"
    ? (text) => (text as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (text) => !LONE_SURROGATE.test(text);

/** The form a string crosses into the module in (itself, for every well-formed string without the marker). */
export function encodeString(text: string): string {
  if (text.charCodeAt(0) !== MARK_UNIT && wellFormed(text)) return text;
  let out = MARK;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += text.slice(i, i + 2);
        i++;
        continue;
      }
    }
    if (unit >= 0xd800 && unit <= 0xdfff) out += ESCAPE + String.fromCharCode(unit + ESCAPED_BASE);
    else if (text.charAt(i) === ESCAPE) out += ESCAPE + ESCAPE;
    else out += text.charAt(i);
  }
  return out;
}

/** The string `encodeString` was given. */
export function decodeString(text: string): string {
  if (!text.startsWith(MARK)) return text;
  let out = "";
  for (let i = MARK.length; i < text.length; i++) {
    if (text.charAt(i) === ESCAPE && i + 1 < text.length) {
      const next = text.charCodeAt(++i);
      out += next === ESCAPE.charCodeAt(0) ? ESCAPE : String.fromCharCode(next - ESCAPED_BASE);
    } else {
      out += text.charAt(i);
    }
  }
  return out;
}
