/**
 * The X.509-SVID rules for a client certificate, checked when a certificate is *verified*, not only
 * when pki/ issues one (issue 20.10a): a certificate the CA key signed by hand, or that another
 * issuer made, must not become a principal just because the signature verifies. OpenSSL's chain
 * verification checks the signature, the dates, the name constraint and (when present) the purpose;
 * it accepts a leaf without extended key usage, a leaf that is itself a CA, and any extra names.
 *
 * SPIFFE X.509-SVID §4 and §5 for a leaf: basicConstraints cA false; keyUsage present with
 * digitalSignature and without keyCertSign or cRLSign; tenantguard client certificates also carry
 * extended key usage clientAuth (what issueCertificate gives every non-server role, N1) and no
 * SAN but their one URI SAN (no DNS, IP, e-mail or other names: a client cert is not a host).
 *
 * A small DER reader walks only the extensions; no key type or signature algorithm is parsed, so
 * it does not care whether the key is RSA or EC.
 */

/** Why a verified certificate is not a tenantguard client SVID; stable reason codes (safe to echo). */
export type SvidProblem =
  | 'leaf_is_ca'
  | 'missing_digital_signature'
  | 'key_cert_sign'
  | 'crl_sign'
  | 'missing_client_auth'
  | 'extra_san:dns'
  | 'extra_san:ip'
  | 'extra_san:email'
  | 'extra_san:other'
  | 'duplicate_extension'
  | 'unparseable';

// DER bodies of the object identifiers involved (RFC 5280 §4.2.1).
const OID_BASIC_CONSTRAINTS = '551d13'; // 2.5.29.19
const OID_KEY_USAGE = '551d0f'; // 2.5.29.15
const OID_SUBJECT_ALT_NAME = '551d11'; // 2.5.29.17
const OID_EXT_KEY_USAGE = '551d25'; // 2.5.29.37
const OID_CLIENT_AUTH = '2b06010505070302'; // 1.3.6.1.5.5.7.3.2

const TAG_BOOLEAN = 0x01;
const TAG_BIT_STRING = 0x03;
const TAG_OCTET_STRING = 0x04;
const TAG_OID = 0x06;
const TAG_SEQUENCE = 0x30;
const TAG_EXTENSIONS = 0xa3; // [3] EXPLICIT in TBSCertificate

// keyUsage bits in the first content byte (bit 0 is the most significant).
const KU_DIGITAL_SIGNATURE = 0x80;
const KU_KEY_CERT_SIGN = 0x04;
const KU_CRL_SIGN = 0x02;

/** Returns the first SVID rule the DER certificate breaks, or null when it is a client SVID. */
export function clientSvidProblem(der: Uint8Array): SvidProblem | null {
  let extensions: Map<string, Buffer>;
  try {
    const found = readExtensions(Buffer.from(der.buffer, der.byteOffset, der.byteLength));
    if (found === 'duplicate') return 'duplicate_extension';
    extensions = found;
  } catch {
    return 'unparseable';
  }
  try {
    return checkExtensions(extensions);
  } catch {
    return 'unparseable';
  }
}

function checkExtensions(extensions: Map<string, Buffer>): SvidProblem | null {
  const basic = extensions.get(OID_BASIC_CONSTRAINTS);
  if (basic !== undefined) {
    const [seq] = expectTags(readAll(basic), [TAG_SEQUENCE]);
    const first = readAll(seq!.value)[0];
    if (first?.tag === TAG_BOOLEAN && first.value.length === 1 && first.value[0] !== 0) return 'leaf_is_ca';
  }

  const keyUsage = extensions.get(OID_KEY_USAGE);
  const [bits] = keyUsage === undefined ? [] : expectTags(readAll(keyUsage), [TAG_BIT_STRING]);
  const firstByte = bits !== undefined && bits.value.length >= 2 ? bits.value[1]! : 0;
  if ((firstByte & KU_DIGITAL_SIGNATURE) === 0) return 'missing_digital_signature';
  if ((firstByte & KU_KEY_CERT_SIGN) !== 0) return 'key_cert_sign';
  if ((firstByte & KU_CRL_SIGN) !== 0) return 'crl_sign';

  const eku = extensions.get(OID_EXT_KEY_USAGE);
  const purposes = eku === undefined ? [] : readAll(expectTags(readAll(eku), [TAG_SEQUENCE])[0]!.value);
  if (!purposes.some((p) => p.tag === TAG_OID && p.value.toString('hex') === OID_CLIENT_AUTH)) return 'missing_client_auth';

  const san = extensions.get(OID_SUBJECT_ALT_NAME);
  const names = san === undefined ? [] : readAll(expectTags(readAll(san), [TAG_SEQUENCE])[0]!.value);
  for (const name of names) {
    // GeneralName is a context-specific CHOICE; [6] uniformResourceIdentifier is the SPIFFE id
    // (how many and which is identity/'s check: exactly one, of this trust domain).
    switch (name.tag & 0x1f) {
      case 6:
        continue;
      case 2:
        return 'extra_san:dns';
      case 7:
        return 'extra_san:ip';
      case 1:
        return 'extra_san:email';
      default:
        return 'extra_san:other';
    }
  }
  return null;
}

/** Extension id (hex of its OID body) → extnValue contents; 'duplicate' if an id repeats (RFC 5280 §4.2). */
function readExtensions(der: Buffer): Map<string, Buffer> | 'duplicate' {
  const [certificate] = expectTags(readAll(der), [TAG_SEQUENCE]);
  const tbs = readAll(certificate!.value)[0];
  if (tbs?.tag !== TAG_SEQUENCE) throw new RangeError('no TBSCertificate');
  const explicit = readAll(tbs.value).find((field) => field.tag === TAG_EXTENSIONS);
  const extensions = new Map<string, Buffer>();
  if (explicit === undefined) return extensions;
  const [list] = expectTags(readAll(explicit.value), [TAG_SEQUENCE]);
  for (const extension of readAll(list!.value)) {
    if (extension.tag !== TAG_SEQUENCE) throw new RangeError('extension is not a SEQUENCE');
    const parts = readAll(extension.value);
    const oid = parts[0];
    const value = parts.at(-1);
    if (oid?.tag !== TAG_OID || value?.tag !== TAG_OCTET_STRING || parts.length > 3) throw new RangeError('malformed extension');
    const id = oid.value.toString('hex');
    if (extensions.has(id)) return 'duplicate';
    extensions.set(id, value.value);
  }
  return extensions;
}

interface Tlv {
  readonly tag: number;
  readonly value: Buffer;
}

/** Exactly these tags, in order, fill the input. */
function expectTags(items: Tlv[], tags: readonly number[]): Tlv[] {
  if (items.length !== tags.length || items.some((item, i) => item.tag !== tags[i])) throw new RangeError('unexpected DER structure');
  return items;
}

/** The TLVs that exactly fill `bytes` (DER: definite lengths, low tag numbers only). */
function readAll(bytes: Buffer): Tlv[] {
  const items: Tlv[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const tag = bytes[offset]!;
    if ((tag & 0x1f) === 0x1f) throw new RangeError('high tag numbers are not used in certificates');
    const lengthByte = bytes[offset + 1];
    if (lengthByte === undefined) throw new RangeError('truncated DER');
    offset += 2;
    let length = lengthByte;
    if (lengthByte & 0x80) {
      const count = lengthByte & 0x7f;
      if (count === 0 || count > 4 || offset + count > bytes.length) throw new RangeError('bad DER length');
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + bytes[offset + i]!;
      offset += count;
    }
    if (offset + length > bytes.length) throw new RangeError('truncated DER');
    items.push({ tag, value: bytes.subarray(offset, offset + length) });
    offset += length;
  }
  return items;
}
