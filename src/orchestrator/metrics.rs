//! Chiffon's Prometheus metrics (docs/metrics.md), kept in one `prometheus-client` registry.
//!
//! Two kinds live here. Events (HTTP requests, finished tasks and steps, plans, LLM calls, bus
//! errors) are counted where they happen, through the `record_*` methods. State (requests and
//! tasks by status, agents, the dispatch queue, the audit queue) is read from the store and the
//! agent registry at scrape time (`Core::render_metrics`), so it is right after a restart and
//! never drifts from what the API shows.
//!
//! Invariant: every label takes values from a bounded set (statuses, agent types, routes as
//! patterns, providers and reason codes from the configuration, the agents and services the
//! homelab has), never from free text such as a raw path or an error message.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::bus::Queue;
use crate::model::decision::Decision;
use crate::model::{AgentState, AgentType, RequestStatus, TaskStatus};
use crate::orchestrator::{Core, lock};
use crate::registry::AgentInfo;
use crate::store::MetricCounts;

/// The OpenMetrics content type, sent when the scraper asks for it (Prometheus does).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The classic Prometheus text format, for everyone else (`curl`, older tools).
pub const PROMETHEUS_CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds for request-sized work: HTTP answers and plans (milliseconds to a minute,
/// for a slow model).
const FAST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
/// Upper bounds for playbook-sized work: a step or task (a second to an hour).
const SLOW_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

type FloatGauge = Gauge<f64, AtomicU64>;
type Timings = Family<Vec<(&'static str, String)>, Histogram, fn() -> Histogram>;
type Labelled<M = Gauge> = Family<Vec<(&'static str, String)>, M>;

fn fast_histogram() -> Histogram {
    Histogram::new(FAST_BUCKETS.iter().copied())
}

fn slow_histogram() -> Histogram {
    Histogram::new(SLOW_BUCKETS.iter().copied())
}

/// Labels as pairs: a `Vec<(name, value)>` is a label set to `prometheus-client`.
fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

/// The registry and a handle on every family in it.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Scrapes fill the state gauges and encode one at a time.
    scrape: tokio::sync::Mutex<()>,
    http_requests: Labelled<Counter>,
    http_duration: Timings,
    task_duration: Timings,
    step_duration: Timings,
    plan_duration: Timings,
    llm_calls: Labelled<Counter>,
    llm_tokens: Labelled<Counter>,
    llm_cost: Labelled<Counter<f64, AtomicU64>>,
    bus_publish_errors: Labelled<Counter>,
    bus_consume_errors: Labelled<Counter>,
    bus_dead_letters: Labelled<Counter>,
    state: StateGauges,
}

/// The gauges a scrape refills from the store and the registry.
#[derive(Debug, Default)]
struct StateGauges {
    requests: Labelled,
    tasks: Labelled,
    agents: Labelled,
    agent_up: Labelled,
    agent_cpu_cores: Labelled,
    agent_free_cpu_cores: Labelled<FloatGauge>,
    agent_cpu_load: Labelled<FloatGauge>,
    agent_memory_total: Labelled,
    agent_memory_free: Labelled,
    agent_heartbeat_age: Labelled<FloatGauge>,
    gpu_vram_total: Labelled,
    gpu_vram_free: Labelled,
    queue_paused: Gauge,
    audit_queue_length: Gauge,
    audit_degraded: Gauge,
    audit_oldest_queued_age: Labelled<FloatGauge>,
    audit_last_commit_age: Labelled<FloatGauge>,
    build_info: Labelled,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut metrics = Metrics {
            registry: Registry::default(),
            scrape: tokio::sync::Mutex::new(()),
            http_requests: Default::default(),
            http_duration: Timings::new_with_constructor(fast_histogram),
            task_duration: Timings::new_with_constructor(slow_histogram),
            step_duration: Timings::new_with_constructor(slow_histogram),
            plan_duration: Timings::new_with_constructor(fast_histogram),
            llm_calls: Default::default(),
            llm_tokens: Default::default(),
            llm_cost: Default::default(),
            bus_publish_errors: Default::default(),
            bus_consume_errors: Default::default(),
            bus_dead_letters: Default::default(),
            state: StateGauges::default(),
        };
        // The families are handles on shared values: the registry encodes what they count.
        let mut registry = Registry::with_prefix("chiffon");
        metrics.register_events(&mut registry);
        metrics.state.register(&mut registry);
        metrics.registry = registry;
        // Bus errors start at zero, so `increase()` sees the first one.
        for queue in ["work", "agent", "events", "heartbeats"] {
            let set = labels([("queue", queue)]);
            for family in [
                &metrics.bus_publish_errors,
                &metrics.bus_consume_errors,
                &metrics.bus_dead_letters,
            ] {
                let _ = family.get_or_create(&set);
            }
        }
        metrics
    }
}

impl Metrics {
    fn register_events(&self, r: &mut Registry) {
        r.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            self.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route pattern and status",
            self.http_duration.clone(),
        );
        r.register("task_duration_seconds", "A task (one step's execution on an agent) from queued to finished, by agent type and end status", self.task_duration.clone());
        r.register("step_duration_seconds", "A plan step from when its request reached it to its outcome, waiting for room and retries included, by end status", self.step_duration.clone());
        r.register(
            "plan_duration_seconds",
            "Time to make a plan version, by outcome (rules, llm, fallback)",
            self.plan_duration.clone(),
        );
        r.register(
            "llm_calls",
            "Calls to LLM providers, by provider, routing reason code and outcome",
            self.llm_calls.clone(),
        );
        r.register("llm_tokens", "Tokens sent to and received from LLM providers, by provider, reason code and direction", self.llm_tokens.clone());
        r.register(
            "llm_cost_usd",
            "What LLM calls cost, in US dollars, by provider and reason code",
            self.llm_cost.clone(),
        );
        r.register(
            "bus_publish_errors",
            "Messages the bus would not take from the orchestrator, by queue kind",
            self.bus_publish_errors.clone(),
        );
        r.register("bus_consume_errors", "Received messages the orchestrator could not apply or acknowledge (they are redelivered), by queue kind", self.bus_consume_errors.clone());
        r.register("bus_dead_letters", "Received messages refused for good and dead-lettered (malformed, unknown or unsigned), by queue kind", self.bus_dead_letters.clone());
    }

    /// An HTTP request answered: `route` is the matched pattern (`/api/v1/requests/{id}`), or
    /// `unmatched`.
    pub fn record_http(&self, method: &str, route: &str, status: u16, took: Duration) {
        let status = status.to_string();
        let set = labels([("method", method), ("route", route), ("status", &status)]);
        self.http_requests.get_or_create(&set).inc();
        self.http_duration
            .get_or_create(&set)
            .observe(took.as_secs_f64());
    }

    /// A task finished (`created_at` is when it was queued).
    pub fn record_task(
        &self,
        agent_type: AgentType,
        status: TaskStatus,
        created_at: DateTime<Utc>,
    ) {
        let took = (Utc::now() - created_at).num_milliseconds().max(0) as f64 / 1000.0;
        let set = labels([
            ("agent_type", agent_type.as_str()),
            ("status", status.as_str()),
        ]);
        self.task_duration.get_or_create(&set).observe(took);
    }

    /// A plan step settled after `took`.
    pub fn record_step(&self, status: TaskStatus, took: Duration) {
        self.step_duration
            .get_or_create(&labels([("status", status.as_str())]))
            .observe(took.as_secs_f64());
    }

    /// A plan version made in `took`, and the LLM calls it made.
    pub fn record_plan(&self, decision: &Decision, took: Duration) {
        self.plan_duration
            .get_or_create(&labels([("outcome", &decision.outcome)]))
            .observe(took.as_secs_f64());
        let reason = decision.reason_code.as_str();
        for call in &decision.attempts {
            let provider = call.provider.as_str();
            let outcome = call.outcome.as_str();
            self.llm_calls
                .get_or_create(&labels([
                    ("provider", provider),
                    ("reason", reason),
                    ("outcome", outcome),
                ]))
                .inc();
            for (direction, tokens) in [("in", call.tokens_in), ("out", call.tokens_out)] {
                self.llm_tokens
                    .get_or_create(&labels([
                        ("provider", provider),
                        ("reason", reason),
                        ("direction", direction),
                    ]))
                    .inc_by(tokens);
            }
            self.llm_cost
                .get_or_create(&labels([("provider", provider), ("reason", reason)]))
                .inc_by(call.cost_usd.max(0.0));
        }
    }

    pub fn publish_failed(&self, queue: &Queue) {
        self.bus_publish_errors
            .get_or_create(&labels([("queue", queue_kind(queue))]))
            .inc();
    }

    pub fn consume_failed(&self, queue: &Queue) {
        self.bus_consume_errors
            .get_or_create(&labels([("queue", queue_kind(queue))]))
            .inc();
    }

    pub fn dead_lettered(&self, queue: &Queue) {
        self.bus_dead_letters
            .get_or_create(&labels([("queue", queue_kind(queue))]))
            .inc();
    }
}

/// A queue's kind: per-agent queues share one label value, so agents do not multiply series.
fn queue_kind(queue: &Queue) -> &'static str {
    match queue {
        Queue::Work(_) => "work",
        Queue::Agent(_) => "agent",
        Queue::Events => "events",
        Queue::Heartbeats => "heartbeats",
    }
}

impl StateGauges {
    fn register(&self, r: &mut Registry) {
        r.register("requests", "Requests by status", self.requests.clone());
        r.register(
            "tasks",
            "Tasks by status and the service they touch (empty: none)",
            self.tasks.clone(),
        );
        r.register(
            "agents",
            "Known agents by type and status (online, suspect, offline, leaving)",
            self.agents.clone(),
        );
        r.register(
            "agent_up",
            "1 while an agent is online, 0 when suspect, offline or leaving",
            self.agent_up.clone(),
        );
        r.register(
            "agent_cpu_cores",
            "CPU cores an agent's host has, from its last report",
            self.agent_cpu_cores.clone(),
        );
        r.register(
            "agent_free_cpu_cores",
            "Cores' worth of idle CPU on an agent's host, from its last report",
            self.agent_free_cpu_cores.clone(),
        );
        r.register(
            "agent_cpu_load_percent",
            "Share of CPU time busy on an agent's host (0-100), from its last report",
            self.agent_cpu_load.clone(),
        );
        r.register(
            "agent_memory_total_bytes",
            "Memory an agent's host has",
            self.agent_memory_total.clone(),
        );
        r.register(
            "agent_memory_free_bytes",
            "Memory available on an agent's host",
            self.agent_memory_free.clone(),
        );
        r.register(
            "agent_heartbeat_age_seconds",
            "Seconds since an agent's last heartbeat",
            self.agent_heartbeat_age.clone(),
        );
        r.register(
            "agent_gpu_vram_total_bytes",
            "Video memory of each GPU of an agent's host",
            self.gpu_vram_total.clone(),
        );
        r.register(
            "agent_gpu_vram_free_bytes",
            "Free video memory of each GPU of an agent's host",
            self.gpu_vram_free.clone(),
        );
        r.register(
            "dispatch_queue_paused",
            "1 while the dispatch queue is paused waiting for capacity",
            self.queue_paused.clone(),
        );
        r.register(
            "audit_queue_length",
            "Audit entries stored but not yet committed to the audit repository",
            self.audit_queue_length.clone(),
        );
        r.register(
            "audit_degraded",
            "1 while the audit repository cannot be written (entries wait in the database)",
            self.audit_degraded.clone(),
        );
        r.register(
            "audit_oldest_queued_age_seconds",
            "Age of the oldest audit entry still waiting for its commit (absent when none waits)",
            self.audit_oldest_queued_age.clone(),
        );
        r.register(
            "audit_last_commit_age_seconds",
            "Seconds since the audit writer last committed an entry (absent before the first)",
            self.audit_last_commit_age.clone(),
        );
        r.register(
            "build_info",
            "Always 1; the running version in its label",
            self.build_info.clone(),
        );
    }

    /// Replaces every state gauge with this scrape's figures.
    fn fill(
        &self,
        counts: &MetricCounts,
        agents: &[AgentInfo],
        paused: bool,
        degraded: bool,
        now: DateTime<Utc>,
    ) {
        self.requests.clear();
        for status in RequestStatus::ALL {
            self.requests
                .get_or_create(&labels([("status", status.as_str())]))
                .set(0);
        }
        for (status, count) in &counts.requests {
            self.requests
                .get_or_create(&labels([("status", status)]))
                .set(*count);
        }
        self.tasks.clear();
        for (status, service, count) in &counts.tasks {
            self.tasks
                .get_or_create(&labels([("status", status), ("service", service)]))
                .set(*count);
        }
        self.fill_agents(agents, now);
        self.queue_paused.set(i64::from(paused));
        self.audit_queue_length.set(counts.audit_queued);
        self.audit_degraded.set(i64::from(degraded));
        let age = |at: Option<DateTime<Utc>>| {
            at.map(|at| (now - at).num_milliseconds().max(0) as f64 / 1000.0)
        };
        set_optional(
            &self.audit_oldest_queued_age,
            age(counts.audit_oldest_queued_at),
        );
        set_optional(
            &self.audit_last_commit_age,
            age(counts.audit_last_commit_at),
        );
        self.build_info.clear();
        self.build_info
            .get_or_create(&labels([("version", env!("CARGO_PKG_VERSION"))]))
            .set(1);
    }

    fn fill_agents(&self, agents: &[AgentInfo], now: DateTime<Utc>) {
        for family in [
            &self.agents,
            &self.agent_up,
            &self.agent_cpu_cores,
            &self.agent_memory_total,
            &self.agent_memory_free,
            &self.gpu_vram_total,
            &self.gpu_vram_free,
        ] {
            family.clear();
        }
        for family in [
            &self.agent_free_cpu_cores,
            &self.agent_cpu_load,
            &self.agent_heartbeat_age,
        ] {
            family.clear();
        }
        for agent_type in AgentType::ALL {
            for status in AgentState::ALL {
                let set = labels([
                    ("agent_type", agent_type.as_str()),
                    ("status", status.as_str()),
                ]);
                self.agents.get_or_create(&set).set(0);
            }
        }
        const MIB: i64 = 1024 * 1024;
        for agent in agents {
            let kind = agent.agent_type.as_str();
            let set = labels([("agent_type", kind), ("status", agent.status.as_str())]);
            self.agents.get_or_create(&set).inc();
            let who = labels([("agent", &agent.id), ("agent_type", kind)]);
            self.agent_up
                .get_or_create(&who)
                .set(i64::from(agent.status == AgentState::Online));
            if let Some(at) = agent.last_heartbeat_at {
                let age = (now - at).num_milliseconds().max(0) as f64 / 1000.0;
                self.agent_heartbeat_age.get_or_create(&who).set(age);
            }
            let Some(capacity) = &agent.capacity else {
                continue;
            };
            self.agent_cpu_cores
                .get_or_create(&who)
                .set(i64::from(capacity.cpu_cores));
            self.agent_free_cpu_cores
                .get_or_create(&who)
                .set(capacity.free_cpu_cores);
            self.agent_cpu_load
                .get_or_create(&who)
                .set(capacity.cpu_load_percent);
            let bytes = |mib: u64| i64::try_from(mib).unwrap_or(i64::MAX).saturating_mul(MIB);
            self.agent_memory_total
                .get_or_create(&who)
                .set(bytes(capacity.memory_total_mb));
            self.agent_memory_free
                .get_or_create(&who)
                .set(bytes(capacity.memory_free_mb));
            for gpu in &capacity.gpus {
                let index = gpu.index.to_string();
                let set = labels([
                    ("agent", &agent.id),
                    ("agent_type", kind),
                    ("gpu", &index),
                    ("name", &gpu.name),
                ]);
                self.gpu_vram_total
                    .get_or_create(&set)
                    .set(bytes(gpu.vram_total_mb));
                self.gpu_vram_free
                    .get_or_create(&set)
                    .set(bytes(gpu.vram_free_mb));
            }
        }
    }
}

/// A gauge that is absent rather than a made-up number when there is nothing to measure.
fn set_optional(family: &Labelled<FloatGauge>, value: Option<f64>) {
    family.clear();
    if let Some(value) = value {
        family.get_or_create(&Vec::new()).set(value);
    }
}

/// How a scrape wants the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Prometheus,
}

impl Core {
    /// The metrics in `format`: the state gauges refilled from the store and the registry,
    /// then every family encoded.
    pub(crate) async fn render_metrics(&self, format: Format) -> anyhow::Result<String> {
        let counts = self.store.metric_counts().await?;
        let agents = self.agents();
        let paused = lock(&self.fleet.queue_paused).is_some();
        let degraded = self.audit_queue.failing().is_some();
        let _one_at_a_time = self.metrics.scrape.lock().await;
        self.metrics
            .state
            .fill(&counts, &agents, paused, degraded, Utc::now());
        let mut out = String::with_capacity(32 * 1024);
        match format {
            Format::OpenMetrics => text::encode(&mut out, &self.metrics.registry)?,
            Format::Prometheus => prometheus_text::encode(&mut out, &self.metrics.registry)?,
        }
        Ok(out)
    }

    /// Publishes on the bus, counting a refusal.
    pub(crate) async fn publish(&self, queue: &Queue, body: Vec<u8>) -> anyhow::Result<()> {
        let published = self.bus.publish(queue, body).await;
        if published.is_err() {
            self.metrics.publish_failed(queue);
        }
        published
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::decision::{Attempt, Complexity};

    fn call(provider: &str, outcome: &str, tokens: (u64, u64), cost_usd: f64) -> Attempt {
        Attempt {
            provider: provider.to_owned(),
            model: "m".to_owned(),
            outcome: outcome.to_owned(),
            repair: false,
            detail: None,
            http_status: None,
            latency_ms: 900,
            tokens_in: tokens.0,
            tokens_out: tokens.1,
            cost_usd,
            at: Utc::now(),
        }
    }

    fn encoded(metrics: &Metrics) -> String {
        let mut out = String::new();
        prometheus_text::encode(&mut out, &metrics.registry).unwrap();
        out
    }

    #[test]
    fn llm_calls_tokens_and_cost_are_counted_by_provider_and_reason() {
        let metrics = Metrics::default();
        let decision = Decision {
            request_id: "req_1".to_owned(),
            plan_version: 1,
            at: Utc::now(),
            planner: "llm:claude/m".to_owned(),
            reason_code: "high_value".to_owned(),
            reason: "marked high-value".to_owned(),
            outcome: "llm".to_owned(),
            fallback_reason: None,
            high_value: true,
            complexity: Complexity::default(),
            quotas: Vec::new(),
            attempts: vec![
                call("ollama", "timeout", (0, 0), 0.0),
                call("claude", "ok", (1200, 300), 0.0081),
            ],
            tokens: 1500,
            cost_usd: 0.0081,
            latency_ms: 2000,
        };
        metrics.record_plan(&decision, Duration::from_millis(2000));
        metrics.record_plan(&decision, Duration::from_millis(1000));
        let text = encoded(&metrics);
        for line in [
            r#"chiffon_llm_calls_total{provider="ollama",reason="high_value",outcome="timeout"} 2"#,
            r#"chiffon_llm_calls_total{provider="claude",reason="high_value",outcome="ok"} 2"#,
            r#"chiffon_llm_tokens_total{provider="claude",reason="high_value",direction="in"} 2400"#,
            r#"chiffon_llm_tokens_total{provider="claude",reason="high_value",direction="out"} 600"#,
            r#"chiffon_llm_cost_usd_total{provider="claude",reason="high_value"} 0.0162"#,
            r#"chiffon_plan_duration_seconds_count{outcome="llm"} 2"#,
            r#"chiffon_plan_duration_seconds_sum{outcome="llm"} 3.0"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn bus_errors_are_counted_by_queue_kind_from_zero() {
        let metrics = Metrics::default();
        let text = encoded(&metrics);
        assert!(
            text.contains(r#"chiffon_bus_dead_letters_total{queue="events"} 0"#),
            "{text}"
        );
        let agent = crate::model::AgentId::parse("desk-1").unwrap();
        metrics.publish_failed(&Queue::Agent(agent));
        metrics.publish_failed(&Queue::Agent(
            crate::model::AgentId::parse("desk-2").unwrap(),
        ));
        metrics.dead_lettered(&Queue::Events);
        metrics.consume_failed(&Queue::Heartbeats);
        let text = encoded(&metrics);
        for line in [
            r#"chiffon_bus_publish_errors_total{queue="agent"} 2"#,
            r#"chiffon_bus_dead_letters_total{queue="events"} 1"#,
            r#"chiffon_bus_consume_errors_total{queue="heartbeats"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(
            !text.contains("desk-1"),
            "agent ids must not become label values here"
        );
    }
}
