# METADATA
# title: KV block operations
# description: |
#   Business rules for KV-cache block batches: quotas (I3), dedicated pools (I5), ownership (I4)
#   and scrub-before-read (I2). The sidecar also enforces I1, I2 and I4 in code, so a permissive
#   edit here can never hand one tenant's data to another; this policy can only be stricter.
#   Input: {principal, action, tenant, resource: {count | blocks, mode}, facts: {owned, cached,
#   quota_blocks, pool: {name, dedicated_to}, foreign_blocks, scrub_pending}}.
#   blocks.claim is claim mode (the engine chose the blocks): one evaluation per tenant per
#   scheduler step, resource.count = blocks the step's claims would newly give the tenant (0 when
#   every claimed block is already the tenant's).
package tenantguard.blocks

default allow := false

actions := {"blocks.allocate", "blocks.claim", "blocks.free", "blocks.scrubbed", "blocks.access"}

# Actions that give the tenant blocks: quotas (I3) and pools (I5) apply to them.
allocating_actions := {"blocks.allocate", "blocks.claim"}

# Scrub confirmations name blocks, not a tenant; every other action acts for one tenant.
tenant_actions := actions - {"blocks.scrubbed"}

default max_blocks_per_call := 4096

max_blocks_per_call := data.limits.max_blocks_per_call

allow if {
	known_action
	count(deny_reasons) == 0
}

known_action if input.action in actions

registered_tenant if data.tenants[input.tenant]

valid_count if {
	is_number(input.resource.count)
	input.resource.count == round(input.resource.count)
	input.resource.count >= 1
	input.resource.count <= max_blocks_per_call
}

# A step's claims may add nothing (all prefix hits on blocks the tenant holds), so 0 is valid;
# the step's size is bounded by the request schema, the total by the quota.
valid_claim_count if {
	is_number(input.resource.count)
	input.resource.count == round(input.resource.count)
	input.resource.count >= 0
}

valid_count_for_action if {
	input.action == "blocks.allocate"
	valid_count
}

valid_count_for_action if {
	input.action == "blocks.claim"
	valid_claim_count
}

allocating if input.action in allocating_actions

batch_within_limit if count(input.resource.blocks) <= max_blocks_per_call

within_quota if input.facts.owned + input.resource.count <= input.facts.quota_blocks

tier_needs_dedicated_pool if data.tiers[data.tenants[input.tenant].tier].dedicated_pool

pool_is_own_dedicated if input.facts.pool.dedicated_to == input.tenant

pool_is_shared if not input.facts.pool.dedicated_to

deny_reasons contains "unknown_action" if not known_action

deny_reasons contains "unknown_tenant" if {
	input.action in tenant_actions
	not registered_tenant
}

deny_reasons contains "count_invalid" if {
	allocating
	not valid_count_for_action
}

deny_reasons contains "batch_too_large" if {
	input.action in actions
	not allocating
	not batch_within_limit
}

# I3: blocks in use plus the request may not exceed the tier's (or the override's) quota.
deny_reasons contains "quota_exceeded" if {
	valid_count_for_action
	not within_quota
}

# I5: a dedicated pool serves only its tenant ...
deny_reasons contains "pool_not_permitted" if {
	allocating
	not pool_is_shared
	not pool_is_own_dedicated
}

# ... and tiers promised a dedicated pool never draw from the shared one.
deny_reasons contains "dedicated_pool_required" if {
	allocating
	tier_needs_dedicated_pool
	not pool_is_own_dedicated
}

# I4: only the owner frees or touches a block; one reason per refused block.
deny_reasons contains concat(":", ["not_owner", format_int(id, 10)]) if {
	input.action in {"blocks.free", "blocks.access"}
	some id in input.facts.foreign_blocks
}

# I2: a block still holding another tenant's data is unreadable until its scrub is confirmed.
deny_reasons contains concat(":", ["scrub_pending", format_int(id, 10)]) if {
	input.action == "blocks.access"
	some id in input.facts.scrub_pending
}

decision := {"allow": allow, "reasons": sort([r | some r in deny_reasons])}
