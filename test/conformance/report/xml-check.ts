/**
 * A deliberately small XML 1.0 reader for the tests: enough to prove the JUnit writer's output is
 * well-formed (one root, balanced and properly nested tags, quoted attributes, no raw `<` or stray
 * `&`, only known entities) and to read values back decoded. Throws on the first problem.
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string; // decoded text directly inside this element
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*/;
const ENTITY = /^&(?:(amp|lt|gt|quot|apos)|#(\d+)|#x([0-9A-Fa-f]+));/;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string, where: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '<') throw new Error(`raw '<' in ${where}`);
    if (c !== '&') {
      out += c;
      continue;
    }
    const m = ENTITY.exec(raw.slice(i));
    if (!m) throw new Error(`bad entity in ${where}: ${raw.slice(i, i + 12)}`);
    out += m[1] ? NAMED[m[1]]! : String.fromCodePoint(m[2] ? Number(m[2]) : parseInt(m[3]!, 16));
    i += m[0].length - 1;
  }
  return out;
}

export function parseXml(xml: string): XmlElement {
  let i = 0;
  if (xml.startsWith('<?xml')) {
    const end = xml.indexOf('?>');
    if (end === -1) throw new Error('unterminated XML declaration');
    i = end + 2;
  }
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = lt === -1 ? xml.slice(i) : xml.slice(i, lt);
    if (stack.length === 0) {
      if (text.trim() !== '') throw new Error(`text outside the root element: ${text.slice(0, 20)}`);
    } else {
      stack[stack.length - 1]!.text += decode(text, `<${stack[stack.length - 1]!.name}> text`);
    }
    if (lt === -1) break;
    i = lt;
    if (xml.startsWith('</', i)) {
      const m = NAME.exec(xml.slice(i + 2));
      if (!m) throw new Error(`bad closing tag at ${i}`);
      const close = xml.indexOf('>', i);
      if (xml.slice(i + 2 + m[0].length, close).trim() !== '') throw new Error(`junk in closing tag at ${i}`);
      const open = stack.pop();
      if (!open || open.name !== m[0]) throw new Error(`</${m[0]}> does not close <${open?.name ?? 'nothing'}>`);
      i = close + 1;
      continue;
    }
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i);
      if (end === -1) throw new Error('unterminated comment');
      i = end + 3;
      continue;
    }
    const m = NAME.exec(xml.slice(i + 1));
    if (!m) throw new Error(`bad tag at ${i}: ${xml.slice(i, i + 20)}`);
    const element: XmlElement = { name: m[0], attributes: {}, children: [], text: '' };
    i += 1 + m[0].length;
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(i))![0];
      i += ws.length;
      if (xml.startsWith('/>', i) || xml.startsWith('>', i)) break;
      if (ws.length === 0) throw new Error(`missing space before attribute in <${element.name}>`);
      const a = /^([A-Za-z_][A-Za-z0-9_.:-]*)="([^"]*)"/.exec(xml.slice(i));
      if (!a) throw new Error(`bad attribute in <${element.name}>: ${xml.slice(i, i + 30)}`);
      if (a[1]! in element.attributes) throw new Error(`duplicate attribute ${a[1]} in <${element.name}>`);
      element.attributes[a[1]!] = decode(a[2]!, `attribute ${a[1]}`);
      i += a[0].length;
    }
    const selfClosing = xml.startsWith('/>', i);
    i += selfClosing ? 2 : 1;
    if (stack.length > 0) stack[stack.length - 1]!.children.push(element);
    else if (root) throw new Error('more than one root element');
    else root = element;
    if (!selfClosing) stack.push(element);
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (!root) throw new Error('no root element');
  return root;
}

export function findAll(element: XmlElement, name: string): XmlElement[] {
  const found: XmlElement[] = [];
  const visit = (e: XmlElement): void => {
    if (e.name === name) found.push(e);
    e.children.forEach(visit);
  };
  visit(element);
  return found;
}
