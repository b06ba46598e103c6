# METADATA
# title: Admission
# description: |
#   Tier rate limits (the tier table, src/config/tiers.ts): concurrent requests and tokens per minute (sliding
#   window, charged by the max_tokens estimate). The admission controller enforces the same limits
#   in code and queues for worker capacity; this policy can add stricter business rules.
#   Input: {principal, action: "admission.request", tenant, resource: {max_tokens},
#   facts: {in_flight, concurrent_limit, tokens_in_window, tokens_per_minute}}.
package tenantguard.admission

default allow := false

default max_tokens_per_request := 1000000

max_tokens_per_request := data.limits.max_tokens_per_request

allow if {
	input.action == "admission.request"
	count(deny_reasons) == 0
}

deny_reasons contains "unknown_action" if input.action != "admission.request"

deny_reasons contains "unknown_tenant" if not data.tenants[input.tenant]

deny_reasons contains "max_tokens_invalid" if not valid_max_tokens

valid_max_tokens if {
	is_number(input.resource.max_tokens)
	input.resource.max_tokens == round(input.resource.max_tokens)
	input.resource.max_tokens >= 1
	input.resource.max_tokens <= max_tokens_per_request
}

deny_reasons contains "concurrent_limit" if input.facts.in_flight >= input.facts.concurrent_limit

deny_reasons contains "token_limit" if {
	valid_max_tokens
	input.facts.tokens_in_window + input.resource.max_tokens > input.facts.tokens_per_minute
}

decision := {"allow": allow, "reasons": sort([r | some r in deny_reasons])}
