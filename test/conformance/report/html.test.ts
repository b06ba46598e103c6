import { describe, expect, test } from 'vitest';
import { toHtml } from '../../../conformance/report/index.js';
import { report, result, shrunkFinding } from './fixtures.js';

const hostileEvidence = `GET /v1/metrics -> 200 body "<img src=x onerror=alert(1)>" & <script>alert('x')</script>`;

const run = report([
  result('TG-I2-SCRUB-BEFORE-READ', 'fail', {
    severity: 'critical',
    references: { soc2: ['CC6.1', 'CC6.7'], hipaa: ['164.312(a)(1)'] },
    finding: { ...shrunkFinding, witness: [...shrunkFinding.witness!, { step: 4, actor: '<b>evil</b>', method: 'GET', path: '/v1/x?a=<y>', status: 200 }] },
    evidence: [hostileEvidence],
  }),
  result('TG-M1-METRICS', 'waived', {
    references: { soc2: ['CC7.2'], hipaa: [] },
    waiver: { control: 'TG-M1-METRICS', justification: 'tracked in SEC-1 <b>', approver: 'ciso', expires: '2099-12-31' },
  }),
  result('TG-OK', 'pass', { references: { soc2: ['CC6.3'], hipaa: ['164.312(d)'] } }),
]);

describe('toHtml', () => {
  test('is one self-contained file: no external src/href, no scripts, no stylesheet links', () => {
    const html = toHtml(run);
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/@import|url\(/i);
    expect(html).toContain('<style>');
    expect(html).toContain(`Content-Security-Policy" content="default-src 'none'`);
  });

  test('escapes hostile evidence, witness fields and waiver text instead of emitting markup', () => {
    const html = toHtml(run);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>evil');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;');
    expect(html).toContain('&lt;b&gt;evil&lt;/b&gt;');
    expect(html).toContain('/v1/x?a=&lt;y&gt;');
    expect(html).toContain('tracked in SEC-1 &lt;b&gt;');
  });

  test('has the header summary and a coverage table per framework, with "not covered" rows', () => {
    const html = toHtml(run);
    expect(html).toContain('https://127.0.0.1:9443');
    expect(html).toMatch(/<h3>SOC 2 <small>4\/6 references covered, 2 passing, 2 failing<\/small><\/h3>/);
    expect(html).toMatch(/<h3>HIPAA <small>2\/7 references covered, 1 passing, 1 failing<\/small><\/h3>/);
    expect(html).toMatch(/<code>CC8\.1<\/code><\/td><td>[^<]+<\/td><td><span class="muted">none<\/span><\/td><td><span class="state not-covered">not covered<\/span>/);
    expect(html).toContain('href="#ctl-TG-I2-SCRUB-BEFORE-READ"');
  });

  test('a failing control shows severity, references, rationale, evidence, seed, path, replay and the witness table', () => {
    const html = toHtml(run);
    const section = html.slice(html.indexOf('<article class="control fail" id="ctl-TG-I2-SCRUB-BEFORE-READ">'));
    const article = section.slice(0, section.indexOf('</article>'));
    expect(article).toContain('<span class="sev critical">critical</span>');
    expect(article).toContain('SOC 2 <code>CC6.1</code>, <code>CC6.7</code>; HIPAA <code>164.312(a)(1)</code>');
    expect(article).toContain('why TG-I2-SCRUB-BEFORE-READ matters');
    expect(article).toContain('<dt>Seed</dt><dd><code>1234</code></dd>');
    expect(article).toContain('<dt>Path</dt><dd><code>0:1:1</code></dd>');
    expect(article).toContain('tenantguard conformance --only TG-I2-SCRUB-BEFORE-READ --seed 1234 --replay &quot;0:1:1&quot;');
    expect(article).toContain('Witness: 4 steps');
    expect(article.match(/<tr><td>\d+<\/td>/g)).toHaveLength(4);
    expect(article).toContain('<details class="evidence" open>');
  });

  test('failures are listed before waived and passing controls; a waived one shows its waiver', () => {
    const html = toHtml(run);
    const order = ['ctl-TG-I2-SCRUB-BEFORE-READ', 'ctl-TG-M1-METRICS', 'ctl-TG-OK'].map((id) => html.indexOf(`<article class="control`, html.indexOf(`id="${id}"`) - 60));
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(html).toContain('Waived until <strong>2099-12-31</strong>, approved by ciso.');
  });
});
