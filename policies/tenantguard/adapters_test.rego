package tenantguard.adapters_test

import data.tenantguard.adapters

item(index, facts) := {"index": index, "tenant": "bob", "adapter_id": "a", "facts": facts}

own := {"registered": true, "owner_is_tenant": true, "public": false, "digest_matches": true}

apply(items) := {"action": "adapters.apply", "resource": {"items": items}}

test_owner_may_apply_own_adapter if {
	d := adapters.decision with input as apply([item(0, own)])
	d.allow
	d.items == [{"index": 0, "allow": true, "reasons": []}]
}

test_cross_tenant_apply_is_denied if {
	d := adapters.decision with input as apply([item(0, object.union(own, {"owner_is_tenant": false}))])
	not d.allow
	d.items[0].reasons == ["adapter_not_permitted"]
	d.reasons == ["item_denied:0"]
}

test_public_adapter_may_be_applied_by_anyone if {
	d := adapters.decision with input as apply([item(0, object.union(own, {"owner_is_tenant": false, "public": true}))])
	d.allow
}

# Issue 20.5: another tenant's namespace answers alike whether it holds a private adapter of that
# name or none, and whatever digest the item sends.
test_another_tenants_namespace_answers_the_same_for_a_private_adapter_and_for_none if {
	private := object.union(own, {"owner_is_tenant": false})
	none := {"registered": false, "owner_is_tenant": false, "public": false, "digest_matches": false}
	d := adapters.decision with input as apply([
		item(0, private),
		item(1, object.union(private, {"digest_matches": false})),
		item(2, none),
		item(3, object.union(none, {"public": true})),
	])
	every i in d.items {
		i.reasons == ["adapter_not_permitted"]
	}
}

test_public_adapter_of_another_tenant_with_another_digest_is_a_digest_mismatch if {
	d := adapters.decision with input as apply([item(0, {"registered": true, "owner_is_tenant": false, "public": true, "digest_matches": false})])
	d.items[0].reasons == ["digest_mismatch"]
}

test_digest_mismatch_is_denied if {
	d := adapters.decision with input as apply([item(0, object.union(own, {"digest_matches": false}))])
	d.items[0].reasons == ["digest_mismatch"]
}

test_unknown_adapter_is_denied if {
	d := adapters.decision with input as apply([item(0, {"registered": false, "owner_is_tenant": true})])
	d.items[0].reasons == ["adapter_unknown"]
}

test_batch_decides_each_item if {
	d := adapters.decision with input as apply([item(0, own), item(1, {"registered": false, "owner_is_tenant": true}), item(2, own)])
	[i.allow | some i in d.items] == [true, false, true]
	d.reasons == ["item_denied:1"]
}

test_registration_with_sane_rank_is_allowed if {
	adapters.allow with input as {"action": "adapters.register", "tenant": "bob", "resource": {"rank": 16}}
}

test_registration_with_huge_or_fractional_rank_is_denied if {
	every rank in [0, 1.5, 100000, "8"] {
		d := adapters.decision with input as {"action": "adapters.register", "tenant": "bob", "resource": {"rank": rank}}
		d.reasons == ["rank_invalid"]
	}
}

test_unknown_action_is_denied if {
	d := adapters.decision with input as {"action": "adapters.delete"}
	d.reasons == ["unknown_action"]
}

test_item_without_facts_is_denied if {
	d := adapters.decision with input as apply([{"index": 0}])
	d.items[0].reasons == ["adapter_not_permitted"]
}
