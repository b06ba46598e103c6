import { SEVERITIES, type ControlResult, type ControlStatus, type RunReport } from '../model.js';
import { escapeAttribute, escapeText } from './escape.js';
import { FRAMEWORK_LABELS } from './frameworks.js';
import { formatDuration, orderResults, summarize, type FrameworkCoverage, type ReferenceState } from './summary.js';

/**
 * One self-contained HTML file: inline CSS, no scripts, no external assets. A Content-Security-
 * Policy forbids loading or running anything, so even text the escaping missed could not act.
 * Every piece of report text goes through escapeText / escapeAttribute.
 */
export function toHtml(report: RunReport): string {
  const summary = summarize(report);
  const results = orderResults(report.results);
  const t = escapeText;
  const parts: string[] = [];
  parts.push(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>tenantguard conformance: ${t(summary.outcome.toUpperCase())} – ${t(report.target)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>tenantguard conformance report <span class="badge ${summary.outcome}">${t(summary.outcome.toUpperCase())}</span></h1>
<dl class="meta">
<dt>Target</dt><dd><code>${t(report.target)}</code></dd>
<dt>Tool</dt><dd>${t(report.tool.name)} ${t(report.tool.version)}</dd>
<dt>Started</dt><dd>${t(report.startedAt)}</dd>
<dt>Finished</dt><dd>${t(report.finishedAt)} (${t(formatDuration(summary.durationMs))})</dd>
<dt>Seed / runs</dt><dd><code>${t(String(report.seed))}</code> / ${t(String(report.runs))}</dd>
</dl>
<p class="counts">${t(String(summary.byStatus.total))} controls: ${(['pass', 'fail', 'error', 'waived', 'skipped'] as const)
    .map((s) => `<span class="badge ${s}">${summary.byStatus[s]} ${s}</span>`)
    .join(' ')}</p>`);
  const harnessErrors = report.harnessErrors ?? [];
  if (harnessErrors.length > 0) {
    parts.push(`<section class="harness-errors"><h2>Harness errors</h2><ul>${harnessErrors.map((e) => `<li>${t(e)}</li>`).join('')}</ul></section>`);
  }
  parts.push('<table class="severity"><thead><tr><th>Severity</th><th>Total</th><th>Pass</th><th>Fail</th><th>Error</th><th>Waived</th><th>Skipped</th></tr></thead><tbody>');
  for (const severity of SEVERITIES) {
    const c = summary.bySeverity[severity];
    parts.push(`<tr><td><span class="sev ${severity}">${severity}</span></td><td>${c.total}</td><td>${c.pass}</td><td>${c.fail}</td><td>${c.error}</td><td>${c.waived}</td><td>${c.skipped}</td></tr>`);
  }
  parts.push('</tbody></table>\n</header>\n<main>');

  parts.push('<section id="coverage"><h2>Framework coverage</h2>');
  for (const coverage of Object.values(summary.frameworks)) parts.push(coverageTable(coverage));
  parts.push('</section>');

  parts.push('<section id="controls"><h2>Controls</h2>');
  if (results.length === 0) parts.push('<p>No controls were run.</p>');
  for (const result of results) parts.push(controlSection(result));
  parts.push('</section>\n</main>\n</body>\n</html>\n');
  return parts.join('\n');
}

const STATE_LABEL: Readonly<Record<ReferenceState, string>> = {
  passing: 'passing',
  failing: 'failing',
  error: 'harness error',
  untested: 'not tested (skipped)',
  'not-covered': 'not covered',
};

function coverageTable(coverage: FrameworkCoverage): string {
  const rows = coverage.references.map((ref) => {
    const controls =
      ref.controls.length === 0
        ? '<span class="muted">none</span>'
        : ref.controls.map((c) => `<a href="#${anchor(c.id)}" class="ctl ${c.status}">${escapeText(c.id)}</a>`).join(' ');
    const unknown = ref.catalogued ? '' : ' <span class="muted">(not in catalogue)</span>';
    return `<tr class="${ref.state}"><td><code>${escapeText(ref.reference)}</code>${unknown}</td><td>${escapeText(ref.description)}</td><td>${controls}</td><td><span class="state ${ref.state}">${escapeText(STATE_LABEL[ref.state])}</span></td></tr>`;
  });
  const line = `${coverage.covered}/${coverage.total} references covered, ${coverage.passing.length} passing, ${coverage.failing.length} failing`;
  return `<h3>${escapeText(coverage.label)} <small>${escapeText(line)}</small></h3>
<table class="coverage"><thead><tr><th>Reference</th><th>Requirement</th><th>Controls</th><th>State</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>`;
}

function controlSection(result: ControlResult): string {
  const t = escapeText;
  const { control } = result;
  const refs = (['soc2', 'hipaa'] as const)
    .map((f) => {
      const list = control.references?.[f] ?? [];
      return list.length > 0 ? `${FRAMEWORK_LABELS[f]} ${list.map((r) => `<code>${t(r)}</code>`).join(', ')}` : '';
    })
    .filter((s) => s !== '')
    .join('; ');
  const out: string[] = [];
  out.push(`<article class="control ${result.status}" id="${anchor(control.id)}">
<h3><span class="badge ${result.status}">${t(STATUS_LABEL[result.status])}</span> <code>${t(control.id)}</code> ${t(control.title)}</h3>
<dl class="meta">
<dt>Severity</dt><dd><span class="sev ${escapeAttribute(control.severity)}">${t(control.severity)}</span></dd>
<dt>Kind</dt><dd>${t(control.kind)}</dd>
<dt>Invariants</dt><dd>${control.invariants.length > 0 ? control.invariants.map((i) => `<code>${t(i)}</code>`).join(', ') : '<span class="muted">none</span>'}</dd>
<dt>References</dt><dd>${refs || '<span class="muted">none</span>'}</dd>
<dt>Duration</dt><dd>${t(formatDuration(result.durationMs))}</dd>
</dl>
<p class="rationale">${t(control.rationale)}</p>`);
  if (result.error !== undefined) out.push(`<div class="error-box"><h4>Harness error</h4><pre>${t(result.error)}</pre></div>`);
  if (result.waiver) {
    const w = result.waiver;
    out.push(`<div class="waiver"><h4>Waiver</h4><p>Waived until <strong>${t(w.expires)}</strong>, approved by ${t(w.approver)}.</p><p>${t(w.justification)}</p></div>`);
  }
  if (result.expiredWaiver) {
    const w = result.expiredWaiver;
    out.push(`<div class="waiver expired"><h4>Expired waiver</h4><p>The waiver approved by ${t(w.approver)} expired on <strong>${t(w.expires)}</strong>; the failure counts.</p></div>`);
  }
  if (result.finding) {
    const f = result.finding;
    out.push(`<div class="finding"><h4>Finding</h4><p>${t(f.message)}</p><dl class="meta">`);
    if (f.seed !== undefined) out.push(`<dt>Seed</dt><dd><code>${t(String(f.seed))}</code></dd>`);
    if (f.path !== undefined) out.push(`<dt>Path</dt><dd><code>${t(f.path)}</code></dd>`);
    if (f.replay !== undefined) out.push(`<dt>Replay</dt><dd><pre class="replay">${t(f.replay)}</pre></dd>`);
    out.push('</dl>');
    if (f.witness && f.witness.length > 0) {
      out.push(`<table class="witness"><caption>Witness: ${f.witness.length} step${f.witness.length === 1 ? '' : 's'}</caption><thead><tr><th>Step</th><th>Actor</th><th>Method</th><th>Path</th><th>Status</th><th>Note</th></tr></thead><tbody>`);
      for (const e of f.witness) {
        out.push(`<tr><td>${t(String(e.step))}</td><td>${t(e.actor)}</td><td>${t(e.method)}</td><td><code>${t(e.path)}</code></td><td>${t(String(e.status))}</td><td>${t(e.note ?? '')}</td></tr>`);
      }
      out.push('</tbody></table>');
    }
    out.push('</div>');
  }
  if (result.evidence.length > 0) {
    const open = result.status === 'pass' ? '' : ' open';
    out.push(`<details class="evidence"${open}><summary>Evidence (${result.evidence.length})</summary><ul>${result.evidence.map((e) => `<li>${t(e)}</li>`).join('')}</ul></details>`);
  }
  out.push('</article>');
  return out.join('\n');
}

const STATUS_LABEL: Readonly<Record<ControlStatus, string>> = { pass: 'PASS', fail: 'FAIL', error: 'ERROR', waived: 'WAIVED', skipped: 'SKIPPED' };

/** A fragment id from a control id: only characters that need no escaping in href and id. */
function anchor(id: string): string {
  return `ctl-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

const CSS = `
:root{--pass:#1a7f37;--fail:#cf222e;--error:#8250df;--waived:#9a6700;--skipped:#57606a;--bg:#fff;--fg:#1f2328;--muted:#656d76;--line:#d0d7de}
*{box-sizing:border-box}
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1200px;padding:1.5rem}
h1{font-size:1.6rem;margin:0 0 .5rem}h2{border-bottom:1px solid var(--line);padding-bottom:.25rem;margin-top:2rem}h3 small{color:var(--muted);font-weight:normal;font-size:.85rem;margin-left:.5rem}h4{margin:.75rem 0 .25rem}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all;margin:0}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.5rem 0}dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}th,td{border:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f6f8fa}
table.severity{width:auto}caption{text-align:left;font-weight:600;padding:.25rem 0}
.badge{display:inline-block;border-radius:1rem;padding:0 .6rem;color:#fff;font-size:.8rem;font-weight:600;vertical-align:middle}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}.badge.error{background:var(--error)}.badge.waived{background:var(--waived)}.badge.skipped{background:var(--skipped)}
.sev{font-weight:600}.sev.critical{color:var(--fail)}.sev.high{color:#bc4c00}.sev.medium{color:var(--waived)}.sev.low{color:var(--muted)}
.state.passing{color:var(--pass)}.state.failing{color:var(--fail);font-weight:600}.state.error{color:var(--error)}.state.untested,.state.not-covered{color:var(--muted);font-style:italic}
a.ctl{text-decoration:none;border-radius:3px;padding:0 .25rem;font-family:ui-monospace,monospace;font-size:.85em}
a.ctl.pass{color:var(--pass)}a.ctl.fail{color:#fff;background:var(--fail)}a.ctl.error{color:#fff;background:var(--error)}a.ctl.waived{color:var(--waived)}a.ctl.skipped{color:var(--skipped)}
article.control{border:1px solid var(--line);border-left:6px solid var(--skipped);border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
article.control.pass{border-left-color:var(--pass)}article.control.fail{border-left-color:var(--fail)}article.control.error{border-left-color:var(--error)}article.control.waived{border-left-color:var(--waived)}
.rationale{color:var(--muted)}.muted{color:var(--muted)}
.finding{background:#fff5f5;border-radius:6px;padding:.25rem .75rem .5rem}.error-box{background:#fbefff;border-radius:6px;padding:.25rem .75rem .5rem}
.waiver{background:#fff8c5;border-radius:6px;padding:.25rem .75rem}.waiver.expired{background:#ffebe9}
.harness-errors{background:#fbefff;border-radius:6px;padding:.25rem 1rem}
details.evidence summary{cursor:pointer;color:var(--muted)}details.evidence li{font-family:ui-monospace,monospace;font-size:.85em;word-break:break-word}
@media print{details.evidence{display:block}body{max-width:none}}
`;
