# METADATA
# title: Metrics scopes
# description: |
#   M1: a tenant's view holds only its own figures; aggregate, per-tenant and Prometheus views
#   (which name every tenant and carry cluster-wide load) are for operators. Global cache-hit
#   figures are never offered to tenants: they are a cross-tenant timing oracle.
#   Input: {principal, action: "metrics.read", tenant, resource: {scope, fields}}.
package tenantguard.metrics

default allow := false

scopes := {"own", "tenant", "aggregate", "prometheus"}

operator_scopes := {"tenant", "aggregate", "prometheus"}

# Figures that reveal other tenants' activity (shared prefix cache, global load).
global_fields := {"prefix_cache_hits_global", "cluster_load", "queue_depth_global"}

allow if {
	input.action == "metrics.read"
	count(deny_reasons) == 0
}

deny_reasons contains "unknown_action" if input.action != "metrics.read"

deny_reasons contains "unknown_scope" if not input.resource.scope in scopes

deny_reasons contains "operator_only_scope" if {
	input.resource.scope in operator_scopes
	input.principal.role != "operator"
}

deny_reasons contains "tenant_scope" if {
	input.resource.scope == "own"
	not own_view
}

deny_reasons contains concat(":", ["global_field", field]) if {
	input.principal.role != "operator"
	some field in input.resource.fields
	field in global_fields
}

own_view if {
	input.principal.role == "tenant"
	input.tenant == input.principal.id
}

decision := {"allow": allow, "reasons": sort([r | some r in deny_reasons])}
