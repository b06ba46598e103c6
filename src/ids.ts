/**
 * Identifier grammars every component shares: one home for each (issue 13). Dependency-free, so
 * any component may import it (the keys component's child-process tests transpile it too).
 */

/** Tenant ids end up in SPIFFE ids, audit records, directory names and AAD parts: keep them boring. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * SPIFFE ID spec §2.1: lowercase letters, digits, '.', '-', '_' only (no port, userinfo or
 * percent-encoding, which keeps `spiffe://a@b/...` confusion out). On top of the grammar, no
 * leading or trailing '.' and no empty label: the CA's URI name constraint is the trust domain,
 * and in RFC 5280 a constraint starting with '.' means "any subdomain".
 */
export const TRUST_DOMAIN_PATTERN = /^(?!\.)(?!.*\.\.)(?!.*\.$)[a-z0-9._-]{1,255}$/;
