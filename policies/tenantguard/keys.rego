# METADATA
# title: Per-tenant keys and encrypted KV offload
# description: |
#   K1 and I6: data keys, cache salts and offloaded KV blocks belong to one tenant. The worker
#   names the tenant it acts for (the request it is serving); reading or writing another tenant's
#   namespace is refused, and tiers promised encrypted KV (enterprise) never get plaintext
#   offload. Operators rotate and erase. Input: {principal, action, tenant,
#   facts: {acting_for, sealed, erased}}.
package tenantguard.keys

default allow := false

actions := {
	"keys.datakey", "keys.unwrap", "keys.cache_salt", "keys.cache_salt_lookup",
	"offload.put", "offload.get", "offload.delete",
	"keys.rotate", "tenants.erase",
}

offload_actions := {"offload.put", "offload.get", "offload.delete"}

allow if {
	input.action in actions
	count(deny_reasons) == 0
}

deny_reasons contains "unknown_action" if not input.action in actions

deny_reasons contains "unknown_tenant" if not data.tenants[input.tenant]

deny_reasons contains "tenant_erased" if input.facts.erased == true

# The worker serves one tenant's request at a time; its offload traffic must stay in that
# tenant's namespace (K1). A mismatch is a confused deputy, not a routine miss.
deny_reasons contains "cross_tenant" if {
	input.action in offload_actions
	not acting_for_path_tenant
}

acting_for_path_tenant if input.facts.acting_for == input.tenant

deny_reasons contains "encryption_required" if {
	input.action == "offload.put"
	tier_requires_encryption
	not input.facts.sealed == true
}

tier_requires_encryption if data.tiers[data.tenants[input.tenant].tier].encrypted_kv

decision := {"allow": allow, "reasons": sort([r | some r in deny_reasons])}
