import type { Framework } from '../model.js';

/** A requirement of a framework that controls can map to. */
export interface FrameworkReference {
  readonly id: string;
  readonly description: string;
}

export const FRAMEWORK_LABELS: Readonly<Record<Framework, string>> = { soc2: 'SOC 2', hipaa: 'HIPAA' };

/**
 * The references tenantguard claims to cover. A reference no control maps to is reported as
 * "not covered", so a gap in the control set shows up in every report instead of hiding.
 */
export const FRAMEWORK_REFERENCES: Readonly<Record<Framework, readonly FrameworkReference[]>> = {
  soc2: [
    { id: 'CC6.1', description: 'Logical access security over protected information assets' },
    { id: 'CC6.3', description: 'Role-based access, least privilege and segregation of duties' },
    { id: 'CC6.6', description: 'Logical access measures against threats from outside system boundaries' },
    { id: 'CC6.7', description: 'Restricts transmission, movement and removal of information' },
    { id: 'CC7.2', description: 'Monitors system components for anomalies indicating malicious acts' },
    { id: 'CC8.1', description: 'Changes are authorized, designed, tested and approved' },
  ],
  hipaa: [
    { id: '164.312(a)(1)', description: 'Access control' },
    { id: '164.312(a)(2)(iv)', description: 'Encryption and decryption' },
    { id: '164.312(b)', description: 'Audit controls' },
    { id: '164.312(c)(1)', description: 'Integrity' },
    { id: '164.312(d)', description: 'Person or entity authentication' },
    { id: '164.312(e)(1)', description: 'Transmission security' },
    { id: '164.308(a)(1)(ii)(D)', description: 'Information system activity review' },
  ],
};

/**
 * The catalogue spelling of a reference as a control wrote it: case, spaces and a leading "§" do
 * not matter ("cc6.1" is CC6.1, "§ 164.312(b)" is 164.312(b)). Unknown references come back trimmed.
 */
export function canonicalReference(framework: Framework, reference: string): string {
  const key = referenceKey(reference);
  const known = FRAMEWORK_REFERENCES[framework].find((r) => referenceKey(r.id) === key);
  return known ? known.id : reference.trim();
}

function referenceKey(reference: string): string {
  return reference.replace(/[\s§]/g, '').toLowerCase();
}
