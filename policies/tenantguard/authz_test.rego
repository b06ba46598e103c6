package tenantguard.authz_test

import data.tenantguard.authz

registry := {
	"acme": {"tier": "enterprise"},
	"bob": {"tier": "free"},
}

principal(role, id, authn) := {"role": role, "id": id, "authn": authn}

test_worker_may_allocate_blocks if {
	authz.allow with input as {"principal": principal("worker", "w1", "mtls"), "action": "blocks.allocate", "tenant": "bob"}
		with data.tenants as registry
}

test_worker_may_send_a_scheduler_step if {
	authz.allow with input as {"principal": principal("worker", "w1", "mtls"), "action": "blocks.step"}
}

test_tenant_and_operator_may_not_send_a_scheduler_step if {
	every role in ["tenant", "operator"] {
		d := authz.decision with input as {"principal": principal(role, "bob", "mtls"), "action": "blocks.step"}
			with data.tenants as {"bob": {"tier": "free"}}
		"role_not_permitted" in d.reasons
	}
}

test_tenant_may_not_call_worker_route if {
	d := authz.decision with input as {"principal": principal("tenant", "bob", "api_key"), "action": "blocks.allocate", "tenant": "bob"}
		with data.tenants as registry
	not d.allow
	d.reasons == ["role_not_permitted"]
}

test_worker_may_not_call_operator_route if {
	d := authz.decision with input as {"principal": principal("worker", "w1", "mtls"), "action": "tenants.manage"}
		with data.tenants as registry
	d.reasons == ["role_not_permitted"]
}

test_operator_may_manage_tenants if {
	authz.allow with input as {"principal": principal("operator", "ops", "mtls"), "action": "tenants.manage"}
		with data.tenants as registry
}

test_tenant_reads_own_usage if {
	authz.allow with input as {"principal": principal("tenant", "bob", "api_key"), "action": "usage.read", "tenant": "bob"}
		with data.tenants as registry
}

test_tenant_may_not_read_another_tenants_metrics if {
	d := authz.decision with input as {"principal": principal("tenant", "bob", "api_key"), "action": "metrics.own", "tenant": "acme"}
		with data.tenants as registry
	d.reasons == ["tenant_scope"]
}

test_enterprise_tenant_with_api_key_is_refused if {
	d := authz.decision with input as {"principal": principal("tenant", "acme", "api_key"), "action": "usage.read", "tenant": "acme"}
		with data.tenants as registry
	d.reasons == ["mtls_required"]
}

test_enterprise_tenant_with_mtls_is_allowed if {
	authz.allow with input as {"principal": principal("tenant", "acme", "mtls"), "action": "usage.read", "tenant": "acme"}
		with data.tenants as registry
}

test_unregistered_tenant_is_refused if {
	d := authz.decision with input as {"principal": principal("tenant", "ghost", "mtls"), "action": "usage.read", "tenant": "ghost"}
		with data.tenants as registry
	d.reasons == ["unknown_tenant"]
}

test_unknown_action_is_refused if {
	d := authz.decision with input as {"principal": principal("operator", "ops", "mtls"), "action": "launch.missiles"}
		with data.tenants as registry
	d.reasons == ["unknown_action"]
}

test_empty_input_is_denied if {
	not authz.allow with input as {}
}

test_tenant_scoped_route_without_tenant_is_refused if {
	d := authz.decision with input as {"principal": principal("tenant", "bob", "api_key"), "action": "usage.read"}
		with data.tenants as registry
	d.reasons == ["tenant_scope"]
}

test_enterprise_tenant_without_authn_field_is_refused if {
	d := authz.decision with input as {"principal": {"role": "tenant", "id": "acme"}, "action": "usage.read", "tenant": "acme"}
		with data.tenants as registry
	d.reasons == ["mtls_required"]
}

test_principal_without_role_is_refused if {
	d := authz.decision with input as {"principal": {"id": "x"}, "action": "usage.read"}
		with data.tenants as registry
	d.reasons == ["role_not_permitted"]
}

test_only_operators_read_the_openapi_document if {
	authz.allow with input as {"principal": principal("operator", "admin", "mtls"), "action": "openapi.read"}
	every role in ["tenant", "worker"] {
		d := authz.decision with input as {"principal": principal(role, "bob", "mtls"), "action": "openapi.read"}
			with data.tenants as registry
		"role_not_permitted" in d.reasons
	}
}
