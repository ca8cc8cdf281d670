//! Suggestions around runs: the ansible-lint cache warmed soon after start-up (in the
//! background, one lint at a time, so the first `GET /suggestions` finds it ready), and each
//! finished step's summary given the findings about the files its playbook used — answered
//! from what is known (Chiffon's rules, ansible-lint's cache); a run never waits for
//! ansible-lint.

use std::sync::Arc;
use std::time::Duration;

use crate::model::{Step, Task};
use crate::orchestrator::Core;

/// How long after start-up the cache is warmed: the start-up itself and a first plan get the
/// CPU first (ansible-lint takes every core it can for minutes on a large repository).
const WARM_AFTER: Duration = Duration::from_secs(15);

/// Findings kept on one step's task, most important first.
const PER_STEP: usize = 20;

impl Core {
    /// Lints the served repository in the background once, unless its tree is cached already.
    pub async fn warm_suggestions(self: Arc<Self>) {
        tokio::time::sleep(WARM_AFTER).await;
        let report = self
            .linter
            .report(&self.config.playbooks, Duration::ZERO, &|_| {})
            .await;
        tracing::info!(
            tree = %report.tree,
            "suggestions warmed: {} findings that matter; {}",
            report.items.len(),
            report.lint.message
        );
    }

    /// Puts the findings about the files `step`'s playbook used on its task, after any advice
    /// from its failure. A problem here is logged, never fails the step.
    pub(crate) async fn attach_findings(&self, step: &Step, task: &mut Task) {
        let Some(playbook) = step.playbook.as_deref() else {
            return;
        };
        let report = self.linter.report_cached(&self.config.playbooks).await;
        let catalogue = self.catalogue();
        let found: Vec<_> = crate::suggest::related::findings_for(
            &catalogue.repository,
            &self.config.playbooks,
            &[playbook],
            report.all(),
        )
        .into_iter()
        .take(PER_STEP)
        .collect();
        if found.is_empty() {
            return;
        }
        let mut all: Vec<serde_json::Value> =
            task.suggestions.as_array().cloned().unwrap_or_default();
        // Marked, so that clients tell them from the advice about a failure.
        all.extend(found.iter().filter_map(|s| {
            let mut value = serde_json::to_value(s).ok()?;
            value["about"] = serde_json::json!("repository");
            Some(value)
        }));
        let value = serde_json::Value::Array(all);
        match self.store.set_task_suggestions(&task.id, &value).await {
            Ok(()) => task.suggestions = value,
            Err(error) => {
                tracing::warn!(task = %task.id, "cannot keep the step's suggestions: {error:#}");
            }
        }
    }
}
