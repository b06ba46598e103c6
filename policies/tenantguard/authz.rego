# METADATA
# title: Route authorization
# description: |
#   Which role may call which route (N1). Tenants act only on their own namespace, and tiers
#   that require mTLS refuse API-key callers. Identity itself is proven in code (TLS, key hash);
#   this policy decides what a proven principal may do.
# related_resources:
#   - ref: ../../docs/design.md
package tenantguard.authz

default allow := false

# Route id -> roles allowed. "tenant_scoped" routes name a tenant that must equal the caller's id
# when the caller is a tenant.
routes := {
	"health.read": {"roles": {"operator", "worker", "tenant"}, "tenant_scoped": false},
	"blocks.allocate": {"roles": {"worker"}, "tenant_scoped": false},
	"blocks.free": {"roles": {"worker"}, "tenant_scoped": false},
	"blocks.scrubbed": {"roles": {"worker"}, "tenant_scoped": false},
	"blocks.access": {"roles": {"worker"}, "tenant_scoped": false},
	"blocks.step": {"roles": {"worker"}, "tenant_scoped": false},
	"admission.request": {"roles": {"worker"}, "tenant_scoped": false},
	"admission.complete": {"roles": {"worker"}, "tenant_scoped": false},
	"adapters.apply": {"roles": {"worker"}, "tenant_scoped": false},
	"adapters.register": {"roles": {"tenant"}, "tenant_scoped": true},
	"keys.datakey": {"roles": {"worker"}, "tenant_scoped": false},
	"keys.unwrap": {"roles": {"worker"}, "tenant_scoped": false},
	"keys.cache_salt": {"roles": {"worker"}, "tenant_scoped": false},
	"keys.cache_salt_lookup": {"roles": {"worker"}, "tenant_scoped": false},
	"offload.put": {"roles": {"worker"}, "tenant_scoped": false},
	"offload.get": {"roles": {"worker"}, "tenant_scoped": false},
	"offload.delete": {"roles": {"worker"}, "tenant_scoped": false},
	"usage.read": {"roles": {"tenant"}, "tenant_scoped": true},
	"metrics.own": {"roles": {"tenant"}, "tenant_scoped": true},
	"metrics.aggregate": {"roles": {"operator"}, "tenant_scoped": false},
	"metrics.tenant": {"roles": {"operator"}, "tenant_scoped": false},
	"metrics.prometheus": {"roles": {"operator"}, "tenant_scoped": false},
	"tenants.manage": {"roles": {"operator"}, "tenant_scoped": false},
	"tenants.read": {"roles": {"operator"}, "tenant_scoped": false},
	"ledger.read": {"roles": {"operator"}, "tenant_scoped": false},
	"keys.rotate": {"roles": {"operator"}, "tenant_scoped": false},
	"tenants.erase": {"roles": {"operator"}, "tenant_scoped": false},
	"audit.verify": {"roles": {"operator"}, "tenant_scoped": false},
	"policy.read": {"roles": {"operator"}, "tenant_scoped": false},
	"policy.reload": {"roles": {"operator"}, "tenant_scoped": false},
	"openapi.read": {"roles": {"operator"}, "tenant_scoped": false},
}

# Every deny rule below negates a helper rule rather than an expression over input: OPA hoists
# input references out of `not`, so `not routes[input.action]` would be undefined (not true) when
# input.action is missing, and a missing field would slip through as "no reason to deny".
allow if {
	known_action
	count(deny_reasons) == 0
}

known_action if routes[input.action]

role_permitted if input.principal.role in routes[input.action].roles

caller_is_target_tenant if input.tenant == input.principal.id

registered_tenant_caller if data.tenants[input.principal.id]

authenticated_with_mtls if input.principal.authn == "mtls"

tier_requires_mtls if {
	tier := data.tenants[input.principal.id].tier
	data.tiers[tier].mtls_required
}

deny_reasons contains "unknown_action" if not known_action

deny_reasons contains "role_not_permitted" if {
	known_action
	not role_permitted
}

# A tenant may only name itself (M1, A1): its metrics, usage and adapters, nothing else.
deny_reasons contains "tenant_scope" if {
	input.principal.role == "tenant"
	routes[input.action].tenant_scoped
	not caller_is_target_tenant
}

deny_reasons contains "unknown_tenant" if {
	input.principal.role == "tenant"
	not registered_tenant_caller
}

# N1: tiers with mtls_required (enterprise) are refused when they come with an API key only.
deny_reasons contains "mtls_required" if {
	input.principal.role == "tenant"
	tier_requires_mtls
	not authenticated_with_mtls
}

decision := {"allow": allow, "reasons": sort([r | some r in deny_reasons])}
