/**
 * Escaping for the XML and HTML writers. Evidence, findings and errors carry text from the target
 * (status lines, error messages, canary strings) and must never become markup.
 */

const MARKUP: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Characters XML 1.0 forbids even as references (C0 controls other than tab/newline/return, lone
 * surrogates, U+FFFE/U+FFFF) are shown as visible `\uXXXX` text so the document stays well-formed.
 */
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function visible(text: string): string {
  return text.replace(NOT_XML_CHAR, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Text content of an XML or HTML element. */
export function escapeText(text: string): string {
  return visible(text).replace(/[&<>"']/g, (c) => MARKUP[c]!);
}

/** An attribute value (always written double-quoted); line breaks survive as references. */
export function escapeAttribute(text: string): string {
  return escapeText(text).replace(/\t/g, '&#9;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');
}
