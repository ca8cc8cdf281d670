//! Planning: a request's first plan and every later version a person asks for (`modify`), each
//! made by the rules or a model as the routing policy says, with the homelab's portals filled
//! in, and the playbook history the estimates come from.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;

use crate::catalogue::Catalogue;
use crate::llm::{Ask, Decision, Quota};
use crate::model::{Plan, Question, Request, RequestId, RequestStatus, Step, TaskStatus};
use crate::orchestrator::live::LiveEvent;
use crate::orchestrator::{Core, lock};
use crate::planner::{self, PlaybookHistory};
use crate::portals::Portal;
use crate::protocol::TaskResult;

/// Past runs of a playbook kept for duration estimates.
const HISTORY_RUNS: u32 = 20;

impl Core {
    /// Plans `text` and stores the request awaiting approval.
    pub async fn create_request(&self, text: &str, high_value: bool) -> anyhow::Result<Request> {
        // Redacted on the way in: a pasted secret reaches no planner, store, log or stream.
        let text = &*crate::redact::text(text);
        // Re-read the repository so a playbook added a minute ago can be planned with.
        match Catalogue::discover(&self.config.playbooks) {
            Ok(fresh) => {
                *self
                    .planning
                    .catalogue
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
            }
            Err(error) => tracing::warn!("keeping the previous playbook catalogue: {error:#}"),
        }
        let id = RequestId::generate();
        let ask = Ask {
            text,
            current: None,
            change: None,
        };
        let plan = self.make_plan(&id, &ask, high_value, 1, &[]).await?;
        let now = Utc::now();
        let request = Request {
            id,
            text: text.to_owned(),
            status: RequestStatus::AwaitingApproval,
            high_value,
            plan,
            reason: None,
            created_at: now,
            updated_at: now,
        };
        self.store.create_request(&request).await?;
        tracing::info!(request = %request.id, steps = request.plan.steps.len(), risk = %request.plan.risk.level, "planned a request");
        self.emit(LiveEvent::Request {
            request_id: request.id.to_string(),
            status: request.status,
            reason: None,
            at: now,
        });
        Ok(request)
    }

    /// Re-plans `request` with the change a person asked for: a new plan version with the
    /// original request, the current plan and the change as context. `None` when the request
    /// no longer awaits approval on the version it was read at (nothing changes).
    pub async fn modify(
        &self,
        request: &Request,
        change: &str,
        actor: &str,
    ) -> anyhow::Result<Option<Request>> {
        let (change, actor) = (&*crate::redact::text(change), &*crate::redact::text(actor));
        if request.status != RequestStatus::AwaitingApproval {
            return Ok(None);
        }
        // Earlier changes are part of the context too. Earlier answers are not: a change in
        // words restates what is wanted, and the questions still open are asked afresh.
        let so_far = self.context_text(request).await?;
        let ask = Ask {
            text: &so_far,
            current: Some(&request.plan),
            change: Some(change),
        };
        let version = request.plan.version + 1;
        let plan = self
            .make_plan(&request.id, &ask, request.high_value, version, &[])
            .await?;
        if !self
            .store
            .add_plan_version(&request.id, request.plan.version, &plan, change)
            .await?
        {
            return Ok(None);
        }
        let decision = crate::store::Decision {
            kind: "modified".to_owned(),
            plan_version: version,
            actor: actor.to_owned(),
            reason: Some(crate::redact::text(change).into_owned()),
            at: Utc::now(),
        };
        self.store.record_decision(&request.id, &decision).await?;
        tracing::info!(request = %request.id, version, "plan modified: {change}");
        self.emit(LiveEvent::Request {
            request_id: request.id.to_string(),
            status: RequestStatus::AwaitingApproval,
            reason: Some(format!("plan v{version}: {change}")),
            at: Utc::now(),
        });
        self.store.get_request(&request.id).await
    }

    /// Plans version `version` of request `id`: the rules, then the configured models in the
    /// routing policy's order (`llm::route`), falling back to the rules with the reason. The
    /// routing decision is stored whoever planned. `answers` are the person's answers to
    /// earlier versions' questions.
    pub(crate) async fn make_plan(
        &self,
        id: &RequestId,
        ask: &Ask<'_>,
        high_value: bool,
        version: u32,
        answers: &[Question],
    ) -> anyhow::Result<Plan> {
        let began = std::time::Instant::now();
        // The rules read the request and the change together: "… and use staging first".
        let text = match ask.change {
            Some(change) => format!("{}. {change}", ask.text),
            None => ask.text.to_owned(),
        };
        let history = lock(&self.planning.history).clone();
        let catalogue = self.catalogue();
        // A change that only leaves portals out ("drop pihole") keeps the steps: the rules
        // plan the request as it was, and `attach_portals` applies the change.
        // Read from the repository at most once per plan, and only when needed.
        let mut portals: Option<Vec<Portal>> = None;
        let drops_portals = ask.change.is_some_and(|change| {
            let found = self.portals(&mut portals, &catalogue);
            !crate::portals::dropped(change, found).is_empty()
        });
        let rules_text = if drops_portals { ask.text } else { &text };
        let mut deterministic =
            planner::plan_answered(rules_text, &catalogue, &history, version, answers);
        // An upgrade that named no version moves to the registry's newest, shown as the diff.
        let newest = self.newest_versions(&mut deterministic, &catalogue).await;
        if !newest.is_empty() {
            let with: Vec<Question> = answers.iter().cloned().chain(newest).collect();
            deterministic =
                planner::plan_answered(rules_text, &catalogue, &history, version, &with);
        }
        let complexity = crate::llm::complexity(&text, &deterministic);
        let now = Utc::now();
        let quotas = self.llm_quotas(now).await?;
        let route = crate::llm::route(&self.config.llm, &quotas, &complexity, high_value);
        let decision = Decision {
            request_id: id.to_string(),
            plan_version: version,
            at: now,
            planner: String::new(),
            reason_code: route.reason_code.to_owned(),
            reason: route.reason.clone(),
            outcome: String::new(),
            fallback_reason: None,
            high_value,
            complexity,
            quotas: quotas.into_values().collect(),
            attempts: Vec::new(),
            tokens: 0,
            cost_usd: 0.0,
            latency_ms: 0,
        };
        let (mut plan, decision) = crate::llm::plan_with(
            &self.planning.http,
            &self.config.llm,
            &route,
            ask,
            &catalogue,
            &history,
            deterministic,
            decision,
        )
        .await;
        for quota in &decision.quotas {
            if let Some(rate) = quota.rate_limit_left {
                lock(&self.planning.rate_limits).insert(quota.provider.clone(), rate);
            }
        }
        self.attach_portals(&mut plan, &text, &mut portals, &catalogue);
        self.attach_pin_changes(&mut plan);
        self.metrics.record_plan(&decision, began.elapsed());
        // A model's plan says its questions in words only; the answers stay on record.
        for answer in answers {
            if !plan.questions.contains(answer) {
                plan.questions.push(answer.clone());
            }
        }
        plan.index_questions();
        self.store.record_llm_decision(&decision).await?;
        tracing::info!(
            request = %id,
            version,
            planner = %decision.planner,
            reason = %decision.reason_code,
            outcome = %decision.outcome,
            fallback = decision.fallback_reason.as_deref().unwrap_or("-"),
            tokens = decision.tokens,
            "planned"
        );
        Ok(plan)
    }

    /// Each configured provider's use in its current period and its last reported rate-limit
    /// headroom, for routing.
    async fn llm_quotas(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> anyhow::Result<BTreeMap<String, Quota>> {
        let mut quotas = BTreeMap::new();
        for provider in &self.config.llm.providers {
            let start = provider.period.start(now);
            let (tokens, cost) = self.store.llm_usage(&provider.name, start).await?;
            let rate = lock(&self.planning.rate_limits)
                .get(&provider.name)
                .copied();
            quotas.insert(
                provider.name.clone(),
                Quota::new(provider, start, tokens, cost, rate),
            );
        }
        Ok(quotas)
    }

    /// Steps whose playbook takes a list of portals (`portals::input_variable`) get the
    /// homelab's portals, less those `text` (the request and its changes) drops, in that
    /// variable, and their titles say which: the person sees what will be monitored.
    fn attach_portals(
        &self,
        plan: &mut Plan,
        text: &str,
        found: &mut Option<Vec<Portal>>,
        catalogue: &Catalogue,
    ) {
        let repo = &self.config.playbooks;
        for step in &mut plan.steps {
            let Some(variable) = step
                .playbook
                .as_deref()
                .and_then(|p| crate::portals::input_variable(repo, p))
            else {
                continue;
            };
            let all = self.portals(found, catalogue);
            let dropped = crate::portals::dropped(text, all);
            let chosen: Vec<&Portal> = all
                .iter()
                .filter(|p| !dropped.contains(p.stack.as_str()))
                .collect();
            step.extra_vars.insert(
                variable,
                serde_json::json!(chosen.iter().map(|p| &p.stack).collect::<Vec<_>>()),
            );
            let listed: Vec<String> = chosen
                .iter()
                .map(|p| format!("{} ({})", p.name, p.url))
                .collect();
            // The count in the title, the portals (with their URLs) as the step's details: a
            // title holding five URLs squeezed every table it was shown in.
            step.title = format!(
                "{} — {} portal{}",
                step.title,
                chosen.len(),
                if chosen.len() == 1 { "" } else { "s" },
            );
            step.details = if listed.is_empty() {
                vec!["no portals: nothing to monitor".to_owned()]
            } else {
                listed
            };
        }
    }

    /// The repository's portals, discovered on first use and kept in `cache`.
    fn portals<'a>(
        &self,
        cache: &'a mut Option<Vec<Portal>>,
        catalogue: &Catalogue,
    ) -> &'a [Portal] {
        cache.get_or_insert_with(|| {
            crate::portals::discover(&self.config.playbooks, &catalogue.groups)
        })
    }

    /// Reads each playbook's recent runs from the store, for estimates (at start-up).
    pub(crate) async fn load_history(&self) -> anyhow::Result<()> {
        let mut history = BTreeMap::new();
        for (playbook, runs, last_failed) in self.store.playbook_runs().await? {
            let durations_s = self
                .store
                .playbook_durations(&playbook, HISTORY_RUNS)
                .await?;
            history.insert(
                playbook,
                PlaybookHistory {
                    durations_s,
                    last_failed,
                    runs,
                },
            );
        }
        *lock(&self.planning.history) = history;
        Ok(())
    }

    /// Counts a finished run of `step`'s playbook for the next plans' estimates.
    pub(crate) fn record_history(&self, step: &Step, result: &TaskResult, status: TaskStatus) {
        let Some(playbook) = &step.playbook else {
            return;
        };
        let mut history = lock(&self.planning.history);
        let entry = history.entry(playbook.clone()).or_default();
        entry.runs += 1;
        entry.last_failed = status == TaskStatus::Failed;
        if status == TaskStatus::Succeeded {
            entry
                .durations_s
                .insert(0, result.duration_ms as f64 / 1000.0);
            entry.durations_s.truncate(HISTORY_RUNS as usize);
        }
    }
}
