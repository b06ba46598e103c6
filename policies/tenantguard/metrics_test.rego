package tenantguard.metrics_test

import data.tenantguard.metrics

read(role, id, scope, tenant) := {
	"principal": {"role": role, "id": id},
	"action": "metrics.read",
	"tenant": tenant,
	"resource": {"scope": scope, "fields": ["requests", "tokens"]},
}

test_tenant_reads_own_metrics if {
	metrics.allow with input as read("tenant", "bob", "own", "bob")
}

test_tenant_may_not_read_another_tenants_metrics if {
	d := metrics.decision with input as read("tenant", "bob", "own", "acme")
	d.reasons == ["tenant_scope"]
}

test_tenant_may_not_read_aggregate_or_prometheus if {
	every scope in ["aggregate", "prometheus", "tenant"] {
		d := metrics.decision with input as read("tenant", "bob", scope, "bob")
		d.reasons == ["operator_only_scope"]
	}
}

test_operator_reads_every_operator_scope if {
	every scope in ["aggregate", "prometheus", "tenant"] {
		metrics.allow with input as read("operator", "admin", scope, "bob")
	}
}

test_global_cache_hits_are_never_shown_to_tenants if {
	d := metrics.decision with input as {
		"principal": {"role": "tenant", "id": "bob"}, "action": "metrics.read", "tenant": "bob",
		"resource": {"scope": "own", "fields": ["requests", "prefix_cache_hits_global"]},
	}
	d.reasons == ["global_field:prefix_cache_hits_global"]
}

test_unknown_scope_is_denied if {
	d := metrics.decision with input as read("operator", "admin", "everything", "bob")
	d.reasons == ["unknown_scope"]
}

test_worker_may_not_read_metrics if {
	d := metrics.decision with input as read("worker", "w1", "own", "bob")
	d.reasons == ["tenant_scope"]
}

test_other_action_is_denied if {
	d := metrics.decision with input as object.union(read("operator", "admin", "aggregate", "bob"), {"action": "metrics.write"})
	d.reasons == ["unknown_action"]
}
