"""The demo fleet: 20 registered agents in 5 teams (plus one nobody registered).

Each agent's behaviour (volume, tokens, quality, outcomes, budget) is declared here as
data; `simulate.py` draws cases and calls from it, `otlp_writer.py` turns them into spans,
`billing.py` into bills and `evals.py` into offline eval runs. The injected events that a
demanding reviewer should find are declared below the agents (MIGRATION, QUALITY_DRIFT, …),
in days from the first day.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Route:
    """Where an agent's LLM traffic goes and how it is billed."""

    provider: str  # OTel gen_ai.provider.name
    model: str  # the model name instrumentations report
    account: str  # OpenAI project / Anthropic workspace / Azure subscription
    api_key: str


@dataclass(frozen=True)
class AgentSpec:
    name: str
    team: str
    purpose: str
    risk_tier: str
    route: Route
    weight: float  # share of fleet volume
    calls_per_case: float  # mean LLM calls per case
    tools_per_case: float
    input_tokens: int  # median per call
    output_tokens: int
    quality_mean: float
    resolve_rate: float
    human_baseline_usd_per_case: float
    quality_target: float = 0.80
    # ≈ 1.5 × the agent's mean monthly computed cost in the 90-day demo at 6,000 fleet calls
    # a day (seed 7; kb-answerer before its migration, proposal-drafter before its overrun),
    # rounded up to two significant figures: no month-to-date projection reaches it by chance
    monthly_budget_usd: float = 500.0
    weekend_factor: float = 0.35
    intents: tuple[str, ...] = ("question", "request", "complaint")
    intent_shares: tuple[float, ...] | None = None  # None: every intent equally likely
    growth: float = 0.002  # daily volume growth (linear, from day 0)
    reasoning_share: float = 0.0  # share of output tokens spent reasoning
    registered: bool = True
    extra: dict = field(default_factory=dict)


def _openai(model: str, project: str, key: str) -> Route:
    return Route("openai", model, project, key)


def _anthropic(model: str, workspace: str, key: str) -> Route:
    return Route("anthropic", model, workspace, key)


def _azure(model: str, key: str) -> Route:
    return Route("azure.ai.openai", model, "sub-4f1c-fleet-prod", key)


TEAMS = {
    "customer-care": "ana.ortiz@example.com",
    "finance-ops": "li.wei@example.com",
    "engineering": "sam.okafor@example.com",
    "revenue": "maya.cohen@example.com",
    "people-ops": "jonas.berg@example.com",
}

AGENTS: tuple[AgentSpec, ...] = (
    # customer-care
    AgentSpec(
        "support-triage",
        "customer-care",
        "Routes inbound tickets to the right queue.",
        "medium",
        _openai("gpt-4o-mini", "proj_care", "key_care_01"),
        9,
        1.6,
        0.6,
        1800,
        220,
        0.86,
        0.88,
        1.20,
        monthly_budget_usd=14.0,
        intents=("billing", "shipping", "returns", "account"),
    ),
    AgentSpec(
        "refund-assistant",
        "customer-care",
        "Decides and drafts refunds under $200.",
        "high",
        _openai("gpt-4o", "proj_care", "key_care_02"),
        5,
        2.4,
        1.5,
        2600,
        380,
        0.84,
        0.80,
        4.50,
        monthly_budget_usd=200.0,
        intents=("refund", "exchange", "complaint"),
    ),
    AgentSpec(
        "billing-disputes",
        "customer-care",
        "Answers invoice and charge disputes.",
        "high",
        _anthropic("claude-sonnet-4-5-20250929", "wrkspc_care", "apikey_care_03"),
        3,
        2.2,
        1.2,
        3200,
        420,
        0.85,
        0.78,
        6.00,
        monthly_budget_usd=170.0,
        intents=("duplicate_charge", "wrong_amount", "cancellation", "chargeback"),
    ),
    AgentSpec(
        "kb-answerer",
        "customer-care",
        "Answers how-to questions from the help centre.",
        "low",
        _openai("gpt-4o", "proj_care", "key_care_04"),
        8,
        1.3,
        0.9,
        4200,
        300,
        0.87,
        0.90,
        0.90,
        monthly_budget_usd=380.0,
        intents=("how_to", "pricing", "integration"),
    ),
    # finance-ops
    AgentSpec(
        "invoice-extractor",
        "finance-ops",
        "Extracts line items from supplier invoices.",
        "medium",
        _openai("gpt-4.1-mini", "proj_fin", "key_fin_01"),
        7,
        1.2,
        0.3,
        5200,
        650,
        0.91,
        0.95,
        0.80,
        monthly_budget_usd=79.0,
        intents=("invoice", "credit_note", "receipt"),
    ),
    AgentSpec(
        "expense-auditor",
        "finance-ops",
        "Flags out-of-policy expense claims.",
        "medium",
        _anthropic("claude-haiku-4-5", "wrkspc_fin", "apikey_fin_02"),
        4,
        1.5,
        0.8,
        2400,
        260,
        0.83,
        0.90,
        2.50,
        monthly_budget_usd=52.0,
        intents=("travel", "meals", "software"),
    ),
    AgentSpec(
        "contract-review",
        "finance-ops",
        "Summarises risky clauses in vendor contracts.",
        "high",
        _anthropic("claude-sonnet-4-5-20250929", "wrkspc_fin", "apikey_fin_03"),
        1.2,
        4.5,
        1.0,
        60000,
        1400,
        0.82,
        0.45,
        0.70,
        monthly_budget_usd=770.0,
        weekend_factor=0.1,
        intents=("msa", "nda", "dpa"),
    ),
    AgentSpec(
        "forecast-narrator",
        "finance-ops",
        "Writes the weekly cash-forecast commentary.",
        "low",
        _openai("o4-mini", "proj_fin", "key_fin_04"),
        0.6,
        2.0,
        0.5,
        7000,
        900,
        0.85,
        0.92,
        12.0,
        monthly_budget_usd=26.0,
        reasoning_share=0.55,
        intents=("weekly", "monthly"),
    ),
    # engineering
    AgentSpec(
        "code-reviewer",
        "engineering",
        "Reviews pull requests for common defects.",
        "medium",
        _anthropic("claude-sonnet-4-5-20250929", "wrkspc_eng", "apikey_eng_01"),
        6,
        3.0,
        2.5,
        9000,
        700,
        0.84,
        0.82,
        8.00,
        monthly_budget_usd=730.0,
        weekend_factor=0.15,
        intents=("backend", "frontend", "infra"),
    ),
    AgentSpec(
        "incident-summarizer",
        "engineering",
        "Summarises incidents for the status page.",
        "medium",
        _azure("gpt-4o", "azkey_eng_02"),
        1.5,
        1.8,
        1.2,
        6000,
        500,
        0.86,
        0.90,
        15.0,
        monthly_budget_usd=130.0,
        weekend_factor=0.8,
        intents=("outage", "degradation", "security"),
    ),
    AgentSpec(
        "test-writer",
        "engineering",
        "Drafts unit tests for new functions.",
        "low",
        _openai("gpt-5-mini", "proj_eng", "key_eng_03"),
        3,
        2.5,
        1.5,
        3500,
        1100,
        0.80,
        0.75,
        6.00,
        monthly_budget_usd=32.0,
        weekend_factor=0.2,
        reasoning_share=0.4,
        intents=("python", "typescript", "go"),
    ),
    AgentSpec(
        "oncall-helper",
        "engineering",
        "Answers runbook questions during on-call.",
        "medium",
        _azure("gpt-4o-mini", "azkey_eng_04"),
        2,
        1.7,
        1.8,
        2800,
        260,
        0.85,
        0.85,
        5.00,
        monthly_budget_usd=5.2,
        weekend_factor=0.9,
        intents=("runbook", "dashboards", "escalation"),
    ),
    # revenue
    AgentSpec(
        "lead-scorer",
        "revenue",
        "Scores inbound leads and drafts the first reply.",
        "low",
        _openai("gpt-4o-mini", "proj_rev", "key_rev_01"),
        6,
        1.4,
        0.7,
        1500,
        240,
        0.68,
        0.85,
        0.60,
        monthly_budget_usd=8.2,
        intents=("enterprise", "smb", "partner"),
    ),
    AgentSpec(
        "proposal-drafter",
        "revenue",
        "Drafts sales proposals from call notes.",
        "medium",
        _anthropic("claude-sonnet-4-5-20250929", "wrkspc_rev", "apikey_rev_02"),
        1,
        3.5,
        1.0,
        2000,  # short call notes in, long drafts out: output tokens are most of its cost
        2200,
        0.83,
        0.80,
        25.0,
        monthly_budget_usd=125.0,  # tight: 1.45 ×, so its overrun alerts within days
        weekend_factor=0.1,
        intents=("new_business", "renewal", "expansion"),
    ),
    AgentSpec(
        "churn-watcher",
        "revenue",
        "Explains churn-risk signals to account managers.",
        "low",
        _openai("gpt-4.1-mini", "proj_rev", "key_rev_03"),
        2,
        1.2,
        0.4,
        3000,
        350,
        0.84,
        0.90,
        3.00,
        monthly_budget_usd=13.0,
        intents=("usage_drop", "support_spike", "billing_issue"),
    ),
    AgentSpec(
        "crm-cleaner",
        "revenue",
        "Merges duplicate CRM records.",
        "low",
        _openai("gpt-4o-mini", "proj_rev", "key_rev_04"),
        4,
        1.1,
        0.2,
        900,
        120,
        0.90,
        0.96,
        0.25,
        monthly_budget_usd=3.1,
        intents=("duplicate", "enrichment"),
    ),
    # people-ops
    AgentSpec(
        "hr-faq",
        "people-ops",
        "Answers policy questions from employees.",
        "medium",
        _anthropic("claude-3-5-haiku-20241022", "wrkspc_people", "apikey_ppl_01"),
        4,
        1.3,
        0.6,
        2200,
        280,
        0.86,
        0.88,
        2.00,
        monthly_budget_usd=42.0,
        intents=("leave", "benefits", "payroll"),
    ),
    AgentSpec(
        "onboarding-guide",
        "people-ops",
        "Walks new hires through their first week.",
        "low",
        _openai("gpt-4o-mini", "proj_people", "key_ppl_02"),
        1.5,
        2.0,
        1.0,
        2000,
        400,
        0.88,
        0.90,
        3.50,
        monthly_budget_usd=2.8,
        weekend_factor=0.1,
        intents=("equipment", "accounts", "training"),
    ),
    AgentSpec(
        "resume-screener",
        "people-ops",
        "Pre-screens applications against the role.",
        "high",
        _azure("gpt-4o", "azkey_ppl_03"),
        2.5,
        1.4,
        0.3,
        5000,
        450,
        0.83,
        0.85,
        3.00,
        monthly_budget_usd=160.0,
        intents=("engineering", "sales", "operations"),
    ),
    AgentSpec(
        "policy-checker",
        "people-ops",
        "Checks job ads against hiring policy.",
        "low",
        _openai("gpt-4.1-mini", "proj_people", "key_ppl_04"),
        0.54,  # a low-volume agent: about 40 cases a day at 6,000 fleet calls, every day
        1.1,
        0.2,
        1800,
        200,
        0.89,
        0.95,
        1.50,
        monthly_budget_usd=2.3,
        weekend_factor=1.0,
        growth=0.0,
        intents=("job_ad", "internal_post", "agency_brief", "pay_range"),
        intent_shares=(0.60, 0.10, 0.20, 0.10),
    ),
    # in traces, never registered
    AgentSpec(
        "shadow-summarizer",
        "unknown",
        "Nobody registered it.",
        "unknown",
        _openai("gpt-4o-mini", "proj_rev", "key_shadow_01"),
        1.5,
        1.0,
        0.0,
        2500,
        300,
        0.80,
        0.85,
        1.00,
        registered=False,
        intents=("summary",),
    ),
)

MIGRATION = {"agent": "kb-answerer", "day": 45, "to_model": "gpt-4.1-mini"}
QUALITY_DRIFT = {
    "agent": "support-triage",
    "day": 55,
    "quality_drop": 0.12,
    "from_version": "v3",
    "to_version": "v4",
}
INTENT_SHIFT = {"agent": "billing-disputes", "day": 60, "intent": "chargeback", "share": 0.55}
# Regression discipline. A gate is an offline eval run pair (evals.py) evaluated
# `eval_days_before` the change's first production day; `true_difference` is the quality
# the offline eval sees (candidate − baseline), `expected` what its diff decides.
CANARY = {  # refund-assistant v2: a 5 % canary, then all traffic; worse than v1 in production
    "agent": "refund-assistant",
    "day": 62,
    "full_day": 72,
    "share": 0.05,
    "from_version": "v1",
    "to_version": "v2",
    "quality_drop": 0.08,
    "gate": {
        "eval_days_before": 4,
        "baseline": "refund-baseline-v1",
        "candidate": "refund-candidate-v2",
        "true_difference": -0.004,  # the offline eval misses the regression
        "expected": "ship",
    },
}
UNGATED_CHANGE = {  # support-triage's v3 → v4 (QUALITY_DRIFT) shipped without an eval run
    "agent": QUALITY_DRIFT["agent"],
    "day": QUALITY_DRIFT["day"],
    "from_version": QUALITY_DRIFT["from_version"],
    "to_version": QUALITY_DRIFT["to_version"],
}
GUARDRAIL_REGRESSION = {  # code-reviewer v2: same quality, 10× the hallucinations
    "agent": "code-reviewer",
    "day": 50,
    "from_version": "v1",
    "to_version": "v2",
    "evaluator": "hallucination",
    "rate_after": 0.10,
    "gate": {
        "eval_days_before": 4,
        "baseline": "code-review-baseline-v1",
        "candidate": "code-review-candidate-v2",
        "true_difference": 0.0,
        "expected": "ship",
    },
}
# Guardrail evaluators scored on the root span of every scored case (0/1 scores): agent →
# (evaluator, share of 1s, source). Fleet thresholds (policy.yaml `guardrails:`): pii_leak
# ≤ 0.5 %, hallucination ≤ 3 %, policy_violation ≤ 1 %, tool_call_correct ≥ 90 %,
# intent_correct ≥ 85 %; only code-reviewer v2's hallucination rate is beyond one.
GUARDRAILS = {
    "code-reviewer": ("hallucination", 0.01, "llm_judge"),
    "refund-assistant": ("policy_violation", 0.0005, "llm_judge"),
    "kb-answerer": ("pii_leak", 0.0005, "heuristic"),
    "support-triage": ("intent_correct", 0.95, "llm_judge"),
    "invoice-extractor": ("tool_call_correct", 0.97, "heuristic"),
}
LOW_VOLUME_INTENT_SHIFT = {  # policy-checker (~40 cases a day): its intent mix moves
    "agent": "policy-checker",
    "day": 70,
    "shares_after": (0.15, 0.55, 0.20, 0.10),
}
BUDGET_OVERRUN = {"agent": "proposal-drafter", "day": 75, "output_tokens_factor": 3}
BUDGET_ALERT = {"alert_at": 1.0, "min_days_elapsed": 3}  # policy.yaml `budget:` defaults
UNTRACED = {"agent": "invoice-extractor", "share_untraced": 0.30}
LATE = {"share_of_cases": 0.03, "delay_days": 2, "every_n_days": 7}
MALFORMED = {"every_n_days": 10}
GOVERNANCE_GAP = {"agent": "resume-screener", "missing": "data_lineage"}
# Case-latency targets of the agents that do long work (the policy default is 2.5 s);
# support-triage and lead-scorer keep the default and miss it some weeks.
LATENCY_TARGETS_MS = {
    "churn-watcher": 5000,
    "oncall-helper": 5000,
    "kb-answerer": 6000,
    "hr-faq": 6000,
    "expense-auditor": 6000,
    "invoice-extractor": 8000,
    "onboarding-guide": 8000,
    "resume-screener": 9000,
    "incident-summarizer": 12000,
    "billing-disputes": 12000,
    "refund-assistant": 15000,
    "forecast-narrator": 15000,
    "test-writer": 20000,
    "code-reviewer": 30000,
    "proposal-drafter": 90000,
    "contract-review": 90000,
}
RETIRING_MODEL = {"agent": "hr-faq", "model": "claude-3-5-haiku-20241022", "days_after_end": 45}


def registry_document(agents: tuple[AgentSpec, ...] = AGENTS) -> dict:
    """`config/agents.yaml` content for the registered agents."""
    document = {
        "agents": [
            {
                "name": a.name,
                "team": a.team,
                "owner": TEAMS[a.team],
                "purpose": a.purpose,
                "risk_tier": a.risk_tier,
                "lifecycle": "production",
                "human_baseline_usd_per_case": a.human_baseline_usd_per_case,
                "quality_metric": "quality",
                "quality_target": a.quality_target,
                "monthly_budget_usd": a.monthly_budget_usd,
                "data_lineage": f"reads {a.team} requests and records; answers stay in "
                f"{a.team} tools; prompts go to {a.route.provider}",
                "billing": _billing_keys(a.route, a.name),
            }
            | (
                {"slo_targets": {"p95_case_latency_ms": LATENCY_TARGETS_MS[a.name]}}
                if a.name in LATENCY_TARGETS_MS
                else {}
            )
            for a in agents
            if a.registered
        ]
    }
    for entry in document["agents"]:
        if entry["name"] == GOVERNANCE_GAP["agent"]:
            del entry[GOVERNANCE_GAP["missing"]]
    return document


def _billing_keys(route: Route, agent: str) -> dict:
    if route.provider == "openai":
        return {"openai_project": route.account, "api_key": route.api_key}
    if route.provider == "anthropic":
        return {"anthropic_workspace": route.account, "api_key": route.api_key}
    return {"focus_tag": f"fleet-agent={agent}"}
