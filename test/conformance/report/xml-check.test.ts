import { describe, expect, test } from 'vitest';
import { parseXml } from './xml-check.js';

// The checker the JUnit tests rely on must itself reject broken XML.
describe('the tiny XML checker used by the JUnit tests', () => {
  test('accepts well-formed XML and decodes entities', () => {
    const root = parseXml('<?xml version="1.0"?><a x="1 &amp; &#39;2&#39;"><b>&lt;c&gt;</b><d/></a>');
    expect(root.attributes['x']).toBe("1 & '2'");
    expect(root.children.map((c) => c.name)).toEqual(['b', 'd']);
    expect(root.children[0]!.text).toBe('<c>');
  });

  test.each([
    ['unbalanced tags', '<a><b></a></b>'],
    ['unclosed root', '<a><b/>'],
    ['raw < in text', '<a>1 < 2</a>'],
    ['bare & in text', '<a>R&D</a>'],
    ['raw < in attribute', '<a x="<"/>'],
    ['unquoted attribute', '<a x=1/>'],
    ['two roots', '<a/><b/>'],
  ])('rejects %s', (_name, xml) => {
    expect(() => parseXml(xml)).toThrow();
  });
});
