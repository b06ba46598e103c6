package tenantguard.blocks_test

import data.tenantguard.blocks

registry := {
	"acme": {"tier": "enterprise"},
	"bob": {"tier": "free"},
}

tiers := {
	"free": {"dedicated_pool": false},
	"enterprise": {"dedicated_pool": true},
}

shared_pool := {"name": "shared"}

acme_pool := {"name": "acme-pool", "dedicated_to": "acme"}

allocate(tenant, n, owned, quota, pool) := {
	"action": "blocks.allocate",
	"tenant": tenant,
	"resource": {"count": n},
	"facts": {"owned": owned, "cached": 0, "quota_blocks": quota, "pool": pool},
}

test_allocation_within_quota_is_allowed if {
	d := blocks.decision with input as allocate("bob", 4, 10, 16, shared_pool)
		with data.tenants as registry
		with data.tiers as tiers
	d.allow
	d.reasons == []
}

test_quota_exceeded_is_denied if {
	d := blocks.decision with input as allocate("bob", 7, 10, 16, shared_pool)
		with data.tenants as registry
		with data.tiers as tiers
	not d.allow
	d.reasons == ["quota_exceeded"]
}

test_allocation_up_to_exact_quota_is_allowed if {
	blocks.allow with input as allocate("bob", 6, 10, 16, shared_pool)
		with data.tenants as registry
		with data.tiers as tiers
}

test_zero_negative_and_fractional_counts_are_denied if {
	every n in [0, -1, 1.5, "4", 5000] {
		d := blocks.decision with input as allocate("bob", n, 0, 100000, shared_pool)
			with data.tenants as registry
			with data.tiers as tiers
		d.reasons == ["count_invalid"]
	}
}

test_unknown_tenant_is_denied if {
	d := blocks.decision with input as allocate("ghost", 1, 0, 16, shared_pool)
		with data.tenants as registry
		with data.tiers as tiers
	"unknown_tenant" in d.reasons
}

test_other_tenants_dedicated_pool_is_denied if {
	d := blocks.decision with input as allocate("bob", 1, 0, 16, acme_pool)
		with data.tenants as registry
		with data.tiers as tiers
	d.reasons == ["pool_not_permitted"]
}

test_enterprise_tenant_must_use_its_dedicated_pool if {
	d := blocks.decision with input as allocate("acme", 1, 0, 16, shared_pool)
		with data.tenants as registry
		with data.tiers as tiers
	d.reasons == ["dedicated_pool_required"]
}

test_enterprise_tenant_allocates_from_own_pool if {
	blocks.allow with input as allocate("acme", 1, 0, 16, acme_pool)
		with data.tenants as registry
		with data.tiers as tiers
}

test_freeing_foreign_blocks_lists_each_block if {
	d := blocks.decision with input as {
		"action": "blocks.free", "tenant": "bob",
		"resource": {"blocks": [1, 2, 3]},
		"facts": {"foreign_blocks": [2, 3], "scrub_pending": []},
	}
		with data.tenants as registry
		with data.tiers as tiers
	d.reasons == ["not_owner:2", "not_owner:3"]
}

test_reading_block_awaiting_scrub_is_denied if {
	d := blocks.decision with input as {
		"action": "blocks.access", "tenant": "bob",
		"resource": {"blocks": [5], "mode": "read"},
		"facts": {"foreign_blocks": [], "scrub_pending": [5]},
	}
		with data.tenants as registry
		with data.tiers as tiers
	d.reasons == ["scrub_pending:5"]
}

test_owner_access_is_allowed if {
	blocks.allow with input as {
		"action": "blocks.access", "tenant": "bob",
		"resource": {"blocks": [5], "mode": "read"},
		"facts": {"foreign_blocks": [], "scrub_pending": []},
	}
		with data.tenants as registry
		with data.tiers as tiers
}

test_scrub_confirmation_needs_no_tenant if {
	blocks.allow with input as {"action": "blocks.scrubbed", "resource": {"blocks": [1, 2]}, "facts": {}}
		with data.tenants as registry
		with data.tiers as tiers
}

test_oversized_batch_is_denied if {
	d := blocks.decision with input as {"action": "blocks.scrubbed", "resource": {"blocks": numbers.range(1, 4097)}, "facts": {}}
		with data.tenants as registry
		with data.tiers as tiers
	d.reasons == ["batch_too_large"]
}

test_unknown_action_is_denied if {
	d := blocks.decision with input as {"action": "blocks.steal", "tenant": "bob"}
		with data.tenants as registry
		with data.tiers as tiers
	"unknown_action" in d.reasons
}

claim(tenant, n, owned, quota, pool) := object.union(allocate(tenant, n, owned, quota, pool), {"action": "blocks.claim"})

test_claim_within_quota_is_allowed if {
	blocks.allow with input as claim("bob", 6, 10, 16, shared_pool)
		with data.tenants as registry
		with data.tiers as tiers
}

test_claim_over_quota_is_denied if {
	d := blocks.decision with input as claim("bob", 7, 10, 16, shared_pool)
		with data.tenants as registry
		with data.tiers as tiers
	d.reasons == ["quota_exceeded"]
}

test_claim_adding_no_blocks_is_allowed_at_quota if {
	blocks.allow with input as claim("bob", 0, 16, 16, shared_pool)
		with data.tenants as registry
		with data.tiers as tiers
}

test_claim_counts_must_be_whole_and_not_negative if {
	every n in [-1, 1.5, "4"] {
		d := blocks.decision with input as claim("bob", n, 0, 100000, shared_pool)
			with data.tenants as registry
			with data.tiers as tiers
		d.reasons == ["count_invalid"]
	}
}

# A step's claims may exceed one call's batch limit: many requests share one step.
test_claim_is_not_bounded_by_the_batch_limit if {
	blocks.allow with input as claim("bob", 5000, 0, 100000, shared_pool)
		with data.tenants as registry
		with data.tiers as tiers
}

test_claims_obey_dedicated_pools if {
	d1 := blocks.decision with input as claim("bob", 1, 0, 16, acme_pool)
		with data.tenants as registry
		with data.tiers as tiers
	d1.reasons == ["pool_not_permitted"]
	d2 := blocks.decision with input as claim("acme", 1, 0, 16, shared_pool)
		with data.tenants as registry
		with data.tiers as tiers
	d2.reasons == ["dedicated_pool_required"]
}
