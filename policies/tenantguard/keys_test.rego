package tenantguard.keys_test

import data.tenantguard.keys

registry := {"acme": {"tier": "enterprise"}, "bob": {"tier": "free"}}

tiers := {"enterprise": {"encrypted_kv": true}, "free": {"encrypted_kv": false}}

offload(action, tenant, acting_for, sealed) := {
	"action": action, "tenant": tenant,
	"facts": {"acting_for": acting_for, "sealed": sealed, "erased": false},
}

test_offload_in_own_namespace_is_allowed if {
	keys.allow with input as offload("offload.get", "bob", "bob", true) with data.tenants as registry with data.tiers as tiers
}

test_cross_tenant_offload_read_is_denied if {
	d := keys.decision with input as offload("offload.get", "acme", "bob", true) with data.tenants as registry with data.tiers as tiers
	d.reasons == ["cross_tenant"]
}

test_offload_without_acting_tenant_is_denied if {
	d := keys.decision with input as {"action": "offload.put", "tenant": "bob", "facts": {"sealed": true}} with data.tenants as registry with data.tiers as tiers
	d.reasons == ["cross_tenant"]
}

test_enterprise_offload_must_be_sealed if {
	d := keys.decision with input as offload("offload.put", "acme", "acme", false) with data.tenants as registry with data.tiers as tiers
	d.reasons == ["encryption_required"]
}

test_free_tier_offload_unsealed_is_not_forced if {
	keys.allow with input as offload("offload.put", "bob", "bob", false) with data.tenants as registry with data.tiers as tiers
}

test_erased_tenant_is_refused if {
	d := keys.decision with input as {"action": "keys.datakey", "tenant": "bob", "facts": {"erased": true}} with data.tenants as registry with data.tiers as tiers
	d.reasons == ["tenant_erased"]
}

test_unknown_tenant_is_refused if {
	d := keys.decision with input as {"action": "keys.cache_salt", "tenant": "ghost", "facts": {}} with data.tenants as registry with data.tiers as tiers
	d.reasons == ["unknown_tenant"]
}

test_rotation_is_allowed_for_registered_tenant if {
	keys.allow with input as {"action": "keys.rotate", "tenant": "acme", "facts": {"erased": false}} with data.tenants as registry with data.tiers as tiers
}

test_unknown_action_is_denied if {
	d := keys.decision with input as {"action": "keys.export", "tenant": "bob", "facts": {}} with data.tenants as registry with data.tiers as tiers
	d.reasons == ["unknown_action"]
}

test_worker_may_look_up_a_registered_tenants_salt if {
	keys.allow with input as {"action": "keys.cache_salt_lookup", "tenant": "bob", "facts": {"erased": false}}
		with data.tenants as registry
		with data.tiers as tiers
}

test_salt_lookup_of_an_erased_tenant_is_denied if {
	d := keys.decision with input as {"action": "keys.cache_salt_lookup", "tenant": "bob", "facts": {"erased": true}}
		with data.tenants as registry
		with data.tiers as tiers
	d.reasons == ["tenant_erased"]
}
