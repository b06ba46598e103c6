package tenantguard.admission_test

import data.tenantguard.admission

request(max_tokens, in_flight, tokens) := {
	"action": "admission.request",
	"tenant": "bob",
	"resource": {"max_tokens": max_tokens},
	"facts": {"in_flight": in_flight, "concurrent_limit": 4, "tokens_in_window": tokens, "tokens_per_minute": 10000},
}

test_request_within_limits_is_admitted if {
	admission.allow with input as request(1000, 0, 0) with data.tenants as {"bob": {"tier": "free"}}
}

test_concurrency_limit_is_enforced if {
	d := admission.decision with input as request(1000, 4, 0) with data.tenants as {"bob": {"tier": "free"}}
	d.reasons == ["concurrent_limit"]
}

test_token_limit_is_enforced if {
	d := admission.decision with input as request(2000, 0, 9000) with data.tenants as {"bob": {"tier": "free"}}
	d.reasons == ["token_limit"]
}

test_invalid_max_tokens_is_denied if {
	every n in [0, -5, 2.5, "10", 2000000] {
		d := admission.decision with input as request(n, 0, 0) with data.tenants as {"bob": {"tier": "free"}}
		"max_tokens_invalid" in d.reasons
	}
}

test_unknown_tenant_is_denied if {
	d := admission.decision with input as request(10, 0, 0) with data.tenants as {}
	d.reasons == ["unknown_tenant"]
}

test_unknown_action_is_denied if {
	d := admission.decision with input as object.union(request(10, 0, 0), {"action": "admission.skip"}) with data.tenants as {"bob": {"tier": "free"}}
	d.reasons == ["unknown_action"]
}
