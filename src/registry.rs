//! Which agents exist, whether they are alive, and what they have free: the orchestrator's
//! view, kept with its own clock (never the agents').
//!
//! States: `online` (heartbeat within `suspect_after`), `suspect` (silent longer), `offline`
//! (silent past `offline_after`, or its bus connection dropped) and `leaving` (said goodbye).
//! Only a fresh heartbeat brings an agent back to `online`. A capacity report older than
//! `stale_after` counts as unknown, never as free.
//!
//! Placement: a step that declares GPU memory or CPU cores goes to an online agent whose single
//! GPU has room: `free_vram − booked_vram − headroom ≥ need`, where `booked_vram` is what
//! Chiffon placed on that GPU and has not finished yet, and `headroom = max(512 MiB, 5 % of the
//! GPU)`. Cores likewise: `free_cores − booked_cores ≥ need` (no headroom; the figure is a
//! share of time). Among the agents that fit, the one with the most room left wins.
//!
//! Invariant: every method takes `now`; nothing here reads a clock, so tests and benchmarks
//! drive time themselves.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{AgentState, AgentType, Resources};
use crate::protocol::{Capacity, Heartbeat, Hello};

/// Detection thresholds. Defaults suit a 30 s heartbeat with ±10 % jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub suspect_after: Duration,
    pub offline_after: Duration,
    pub stale_after: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            suspect_after: Duration::from_secs(45),
            offline_after: Duration::from_secs(75),
            stale_after: Duration::from_secs(60),
        }
    }
}

/// Below this share free an agent counts as full.
pub const FULL_BELOW: f64 = 0.10;
/// A paused queue resumes when an agent fits the step, with at least this share free, on two
/// consecutive reports.
pub const RESUME_AT: f64 = 0.15;
/// The least GPU memory kept free on top of what a step asks for.
pub const HEADROOM_MB: u64 = 512;
/// … or this share of the GPU, whichever is more.
pub const HEADROOM_SHARE: f64 = 0.05;

/// An agent as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub id: String,
    #[serde(rename = "type")]
    pub agent_type: AgentType,
    pub status: AgentState,
    /// Why it has this status, in words.
    pub status_reason: String,
    pub status_since: DateTime<Utc>,
    pub host: String,
    pub version: String,
    /// Changes when the agent process restarts.
    pub boot_id: String,
    /// When its last heartbeat arrived (orchestrator clock).
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// The last report, or null when there is none younger than 60 s (unknown, not free).
    pub capacity: Option<Capacity>,
    pub capacity_reported_at: Option<DateTime<Utc>>,
    /// What Chiffon has placed on this agent and not seen finish.
    pub booked: Booked,
    /// The tasks it said it was running in its last heartbeat.
    #[serde(default)]
    pub running_tasks: Vec<String>,
}

/// Resources booked on an agent by steps in flight.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Booked {
    pub cpu_cores: f64,
    /// By GPU index.
    pub vram_mb: BTreeMap<u32, u64>,
}

/// A status change, to store, stream and log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub agent_id: String,
    pub from: Option<AgentState>,
    pub to: AgentState,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Where a step goes, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub agent_id: String,
    pub gpu_index: Option<u32>,
    pub reason: String,
}

#[derive(Debug, Clone)]
struct Entry {
    info: AgentInfo,
    /// The report before the last one, for "two consecutive reports".
    previous: Option<Capacity>,
    /// Silence is counted from the later of the last heartbeat and this (an orchestrator
    /// restart gives every agent a fresh window).
    window_from: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Booking {
    agent_id: String,
    gpu_index: Option<u32>,
    vram_mb: u64,
    cpu_cores: f64,
}

/// The registry. Not thread-safe by itself: the orchestrator keeps it behind a mutex.
#[derive(Debug, Default)]
pub struct Registry {
    thresholds: Thresholds,
    agents: BTreeMap<String, Entry>,
    bookings: HashMap<String, Booking>,
}

impl Registry {
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            ..Self::default()
        }
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// Agents remembered from before a restart: each keeps its last status but gets a fresh
    /// window from `now`, so none is declared dead only because the orchestrator was away.
    pub fn restore(&mut self, agents: Vec<AgentInfo>, now: DateTime<Utc>) {
        for mut info in agents {
            info.capacity = None;
            info.capacity_reported_at = None;
            info.booked = Booked::default();
            self.agents.insert(
                info.id.clone(),
                Entry {
                    info,
                    previous: None,
                    window_from: now,
                },
            );
        }
    }

    fn entry(&mut self, id: &str, agent_type: AgentType, now: DateTime<Utc>) -> &mut Entry {
        self.agents.entry(id.to_owned()).or_insert_with(|| Entry {
            info: AgentInfo {
                id: id.to_owned(),
                agent_type,
                status: AgentState::Offline,
                status_reason: "not heard from yet".to_owned(),
                status_since: now,
                host: String::new(),
                version: String::new(),
                boot_id: String::new(),
                last_heartbeat_at: None,
                capacity: None,
                capacity_reported_at: None,
                booked: Booked::default(),
                running_tasks: Vec::new(),
            },
            previous: None,
            window_from: now,
        })
    }

    fn set(
        entry: &mut Entry,
        to: AgentState,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Option<Transition> {
        if entry.info.status == to {
            return None;
        }
        let from = entry.info.status;
        entry.info.status = to;
        entry.info.status_reason = reason.to_owned();
        entry.info.status_since = now;
        Some(Transition {
            agent_id: entry.info.id.clone(),
            from: Some(from),
            to,
            reason: reason.to_owned(),
            at: now,
        })
    }

    /// An agent introduced itself. It is online once its first heartbeat arrives (agents
    /// send one right after hello).
    pub fn hello(&mut self, id: &str, hello: &Hello, now: DateTime<Utc>) -> Option<Transition> {
        let entry = self.entry(id, hello.agent_type, now);
        entry.info.agent_type = hello.agent_type;
        entry.info.host.clone_from(&hello.host);
        entry.info.version.clone_from(&hello.version);
        entry.info.last_heartbeat_at = Some(now);
        Self::set(entry, AgentState::Online, "said hello", now)
    }

    /// A heartbeat: the agent is alive and this is what it has free.
    pub fn heartbeat(
        &mut self,
        id: &str,
        beat: Heartbeat,
        now: DateTime<Utc>,
    ) -> Option<Transition> {
        let entry = self.entry(id, beat.agent_type, now);
        entry.info.last_heartbeat_at = Some(now);
        entry.info.running_tasks = beat.running_tasks;
        if entry.info.boot_id != beat.boot_id {
            // A restarted agent: its earlier report says nothing about now.
            entry.previous = None;
            entry.info.boot_id = beat.boot_id;
        } else {
            entry.previous = entry.info.capacity.take();
        }
        entry.info.capacity = Some(beat.capacity);
        entry.info.capacity_reported_at = Some(now);
        let reason = match entry.info.status {
            AgentState::Online => "heartbeat",
            _ => "heartbeat received",
        };
        Self::set(entry, AgentState::Online, reason, now)
    }

    /// The agent said goodbye.
    pub fn goodbye(&mut self, id: &str, reason: &str, now: DateTime<Utc>) -> Option<Transition> {
        let entry = self.agents.get_mut(id)?;
        entry.info.capacity = None;
        Self::set(
            entry,
            AgentState::Leaving,
            &format!("said goodbye: {reason}"),
            now,
        )
    }

    /// The agent's bus connection dropped without a goodbye (killed, crashed, cable pulled).
    pub fn connection_lost(&mut self, id: &str, now: DateTime<Utc>) -> Option<Transition> {
        let entry = self.agents.get_mut(id)?;
        if matches!(entry.info.status, AgentState::Leaving | AgentState::Offline) {
            return None;
        }
        entry.info.capacity = None;
        Self::set(
            entry,
            AgentState::Offline,
            "its connection to the message bus closed without a goodbye",
            now,
        )
    }

    /// Moves silent agents along online → suspect → offline.
    pub fn sweep(&mut self, now: DateTime<Utc>) -> Vec<Transition> {
        let t = self.thresholds;
        let mut changes = Vec::new();
        for entry in self.agents.values_mut() {
            if !matches!(entry.info.status, AgentState::Online | AgentState::Suspect) {
                continue;
            }
            let since = entry
                .info
                .last_heartbeat_at
                .map_or(entry.window_from, |at| at.max(entry.window_from));
            let silent = (now - since).to_std().unwrap_or_default();
            let change = if silent >= t.offline_after {
                Self::set(
                    entry,
                    AgentState::Offline,
                    &format!("no heartbeat for {} s", silent.as_secs()),
                    now,
                )
            } else if silent >= t.suspect_after && entry.info.status == AgentState::Online {
                Self::set(
                    entry,
                    AgentState::Suspect,
                    &format!("no heartbeat for {} s", silent.as_secs()),
                    now,
                )
            } else {
                None
            };
            if let Some(change) = change {
                if change.to == AgentState::Offline {
                    entry.info.capacity = None;
                }
                changes.push(change);
            }
        }
        changes
    }

    /// One agent as the API shows it.
    pub fn get(&self, id: &str, now: DateTime<Utc>) -> Option<AgentInfo> {
        self.agents.get(id).map(|e| self.view(e, now))
    }

    /// Every agent, by id.
    pub fn list(&self, now: DateTime<Utc>) -> Vec<AgentInfo> {
        self.agents.values().map(|e| self.view(e, now)).collect()
    }

    pub fn len(&self) -> usize {
        self.agents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    fn fresh<'a>(&self, entry: &'a Entry, now: DateTime<Utc>) -> Option<&'a Capacity> {
        let at = entry.info.capacity_reported_at?;
        ((now - at).to_std().unwrap_or_default() < self.thresholds.stale_after)
            .then_some(entry.info.capacity.as_ref())
            .flatten()
    }

    fn view(&self, entry: &Entry, now: DateTime<Utc>) -> AgentInfo {
        let mut info = entry.info.clone();
        info.capacity = self.fresh(entry, now).cloned();
        info.booked = self.booked(&info.id);
        info
    }

    fn booked(&self, agent_id: &str) -> Booked {
        let mut booked = Booked::default();
        for booking in self.bookings.values().filter(|b| b.agent_id == agent_id) {
            booked.cpu_cores += booking.cpu_cores;
            if let Some(gpu) = booking.gpu_index {
                *booked.vram_mb.entry(gpu).or_default() += booking.vram_mb;
            }
        }
        booked
    }

    /// Where a step with `needs` should run among online agents of `agent_type`, or why it
    /// cannot run now. With `two_reports`, the agent must have fitted on its previous report
    /// too (how a paused queue resumes).
    pub fn place(
        &self,
        agent_type: AgentType,
        needs: &Resources,
        passed_over: &[String],
        two_reports: bool,
        now: DateTime<Utc>,
    ) -> Result<Placement, String> {
        let mut best: Option<(f64, Placement)> = None;
        let mut skipped: Vec<String> = Vec::new();
        for entry in self
            .agents
            .values()
            .filter(|e| e.info.agent_type == agent_type)
        {
            let id = &entry.info.id;
            if passed_over.contains(id) {
                skipped.push(format!("{id} did not take it when it was sent there"));
                continue;
            }
            if entry.info.status != AgentState::Online {
                skipped.push(format!("{id} is {}", entry.info.status));
                continue;
            }
            let Some(capacity) = self.fresh(entry, now) else {
                skipped.push(format!(
                    "{id} has no report younger than {} s",
                    self.thresholds.stale_after.as_secs()
                ));
                continue;
            };
            let booked = self.booked(id);
            let fit = fits(capacity, &booked, needs, 0.0);
            let fit = match (fit, two_reports) {
                (Ok(fit), true) => {
                    let again = entry
                        .previous
                        .as_ref()
                        .map(|previous| fits(previous, &booked, needs, RESUME_AT));
                    match (again, fits(capacity, &booked, needs, RESUME_AT)) {
                        (Some(Ok(_)), Ok(_)) => Ok(fit),
                        _ => Err(format!(
                            "{id} has room now but not on two reports in a row with {:.0} % free",
                            RESUME_AT * 100.0
                        )),
                    }
                }
                (fit, _) => fit,
            };
            match fit {
                Ok((room, gpu_index, reason)) => {
                    if best.as_ref().is_none_or(|(r, _)| room > *r) {
                        best = Some((
                            room,
                            Placement {
                                agent_id: id.clone(),
                                gpu_index,
                                reason: format!("{id}: {reason}"),
                            },
                        ));
                    }
                }
                Err(why) => skipped.push(format!("{id}: {why}")),
            }
        }
        match best {
            Some((_, placement)) => Ok(placement),
            None if skipped.is_empty() => Err(format!("no {agent_type} agent has registered")),
            None => Err(format!(
                "no {agent_type} agent can take it: {}",
                skipped.join("; ")
            )),
        }
    }

    /// Books a placed step's resources until `release`.
    pub fn book(&mut self, task_id: &str, placement: &Placement, needs: &Resources) {
        self.bookings.insert(
            task_id.to_owned(),
            Booking {
                agent_id: placement.agent_id.clone(),
                gpu_index: placement.gpu_index,
                vram_mb: gb_to_mb(needs.gpu_vram_gb),
                cpu_cores: needs.cpu_cores,
            },
        );
    }

    pub fn release(&mut self, task_id: &str) {
        self.bookings.remove(task_id);
    }

    /// Whether every online agent of `agent_type` with a fresh report is below
    /// [`FULL_BELOW`] free (GPU memory for GPU steps, cores otherwise).
    pub fn all_full(&self, agent_type: AgentType, needs: &Resources, now: DateTime<Utc>) -> bool {
        let shares: Vec<f64> = self
            .agents
            .values()
            .filter(|e| e.info.agent_type == agent_type && e.info.status == AgentState::Online)
            .filter_map(|e| self.fresh(e, now))
            .map(|c| free_share(c, needs))
            .collect();
        !shares.is_empty() && shares.iter().all(|s| *s < FULL_BELOW)
    }

    /// Totals over online agents with a fresh report.
    pub fn totals(&self, now: DateTime<Utc>) -> Totals {
        let mut totals = Totals::default();
        // An infra and a desktop agent on one machine report the same machine: count it once.
        let mut machines = std::collections::BTreeSet::new();
        for entry in self.agents.values() {
            *totals
                .agents
                .entry(entry.info.status.to_string())
                .or_default() += 1;
            if entry.info.status != AgentState::Online {
                continue;
            }
            let Some(c) = self.fresh(entry, now) else {
                totals.unknown += 1;
                continue;
            };
            if !entry.info.host.is_empty() && !machines.insert(machine_key(&entry.info.host, c)) {
                continue;
            }
            totals.cpu_cores += c.cpu_cores;
            totals.free_cpu_cores += c.free_cpu_cores;
            totals.memory_total_mb += c.memory_total_mb;
            totals.memory_free_mb += c.memory_free_mb;
            totals.gpus += c.gpus.len() as u32;
            totals.vram_total_mb += c.gpus.iter().map(|g| g.vram_total_mb).sum::<u64>();
            totals.vram_free_mb += c.gpus.iter().map(|g| g.vram_free_mb).sum::<u64>();
            totals.largest_free_vram_mb = totals
                .largest_free_vram_mb
                .max(c.gpus.iter().map(|g| g.vram_free_mb).max().unwrap_or(0));
        }
        totals.free_cpu_cores = (totals.free_cpu_cores * 10.0).round() / 10.0;
        totals
    }
}

/// What tells one machine from another in the totals: its host name and the hardware it
/// reports (two simulated desktops on one test host differ in their recorded GPUs).
fn machine_key(host: &str, c: &Capacity) -> String {
    let gpus: Vec<String> = c
        .gpus
        .iter()
        .map(|g| {
            format!(
                "{}/{}/{}",
                g.name,
                g.vram_total_mb,
                g.uuid.as_deref().unwrap_or("")
            )
        })
        .collect();
    format!(
        "{host}|{}|{}|{}",
        c.cpu_cores,
        c.memory_total_mb,
        gpus.join(",")
    )
}

/// Resources over the online agents (`GET /api/v1/resources`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Agents by status.
    pub agents: BTreeMap<String, u32>,
    /// Online agents without a fresh report: counted as unknown, not free.
    pub unknown: u32,
    pub cpu_cores: u32,
    pub free_cpu_cores: f64,
    pub memory_total_mb: u64,
    pub memory_free_mb: u64,
    pub gpus: u32,
    pub vram_total_mb: u64,
    /// A sum for the overview only: a step needs its memory on one GPU, see
    /// `largest_free_vram_mb`.
    pub vram_free_mb: u64,
    pub largest_free_vram_mb: u64,
}

pub fn gb_to_mb(gb: f64) -> u64 {
    (gb * 1024.0).round().max(0.0) as u64
}

fn headroom_mb(total_mb: u64) -> u64 {
    HEADROOM_MB.max((total_mb as f64 * HEADROOM_SHARE) as u64)
}

/// The free share that matters for a step: the best GPU's memory for GPU steps, else cores.
fn free_share(c: &Capacity, needs: &Resources) -> f64 {
    if needs.gpu_vram_gb > 0.0 {
        c.gpus
            .iter()
            .filter(|g| g.vram_total_mb > 0)
            .map(|g| g.vram_free_mb as f64 / g.vram_total_mb as f64)
            .fold(0.0, f64::max)
    } else if c.cpu_cores > 0 {
        c.free_cpu_cores / f64::from(c.cpu_cores)
    } else {
        0.0
    }
}

/// Whether `needs` fits `c` after bookings: the room left (for ranking), the GPU chosen, and
/// the reason in words; or why not. `min_share` is the free share the chosen resource must
/// keep (0 to place, [`RESUME_AT`] to resume).
fn fits(
    c: &Capacity,
    booked: &Booked,
    needs: &Resources,
    min_share: f64,
) -> Result<(f64, Option<u32>, String), String> {
    let free_cores = c.free_cpu_cores - booked.cpu_cores;
    if needs.cpu_cores > 0.0 && free_cores < needs.cpu_cores {
        return Err(format!(
            "{free_cores:.1} cores free after bookings, needs {:.1}",
            needs.cpu_cores
        ));
    }
    if needs.gpu_vram_gb <= 0.0 {
        let share = if c.cpu_cores > 0 {
            free_cores / f64::from(c.cpu_cores)
        } else {
            0.0
        };
        if share < min_share {
            return Err(format!("only {:.0} % of its cores free", share * 100.0));
        }
        return Ok((
            free_cores,
            None,
            format!("{free_cores:.1} cores free after bookings"),
        ));
    }
    let need = gb_to_mb(needs.gpu_vram_gb);
    let mut best: Option<(u64, u32, String)> = None;
    let mut why = Vec::new();
    for gpu in &c.gpus {
        let taken = booked.vram_mb.get(&gpu.index).copied().unwrap_or(0);
        let headroom = headroom_mb(gpu.vram_total_mb);
        let room = gpu.vram_free_mb.saturating_sub(taken + headroom);
        let share = if gpu.vram_total_mb > 0 {
            gpu.vram_free_mb.saturating_sub(taken) as f64 / gpu.vram_total_mb as f64
        } else {
            0.0
        };
        if room >= need && share >= min_share {
            if best.as_ref().is_none_or(|(r, _, _)| room - need > *r) {
                best = Some((
                    room - need,
                    gpu.index,
                    format!(
                        "GPU {} ({}) has {} MiB free − {} booked − {} headroom ≥ {} needed",
                        gpu.index, gpu.name, gpu.vram_free_mb, taken, headroom, need
                    ),
                ));
            }
        } else {
            why.push(format!(
                "GPU {} has {} MiB free − {} booked − {} headroom < {} needed",
                gpu.index, gpu.vram_free_mb, taken, headroom, need
            ));
        }
    }
    match best {
        Some((left, index, reason)) => Ok((left as f64, Some(index), reason)),
        None if c.gpus.is_empty() => Err("no GPU".to_owned()),
        None => Err(why.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Gpu;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn beat(free_mb: &[u64]) -> Heartbeat {
        Heartbeat {
            agent_type: AgentType::Desktop,
            capacity: Capacity {
                cpu_cores: 8,
                free_cpu_cores: 6.0,
                memory_total_mb: 32000,
                memory_free_mb: 16000,
                gpus: free_mb
                    .iter()
                    .enumerate()
                    .map(|(i, free)| Gpu {
                        index: i as u32,
                        vendor: "nvidia".into(),
                        name: format!("gpu{i}"),
                        uuid: None,
                        vram_total_mb: 24576,
                        vram_free_mb: *free,
                        utilization_percent: None,
                        source: "nvml".into(),
                    })
                    .collect(),
                ..Capacity::default()
            },
            ttl_s: 75,
            seq: 0,
            boot_id: "b1".into(),
            interval_s: 30,
            running_tasks: Vec::new(),
        }
    }

    fn gpu_step(gb: f64) -> Resources {
        Resources {
            gpu_vram_gb: gb,
            cpu_cores: 0.0,
        }
    }

    #[test]
    fn silence_makes_an_agent_suspect_then_offline_and_only_a_heartbeat_revives_it() {
        let mut registry = Registry::new(Thresholds::default());
        registry.heartbeat("pc", beat(&[20000]), at(0));
        assert!(registry.sweep(at(44)).is_empty());
        let suspect = registry.sweep(at(45));
        assert_eq!(suspect[0].to, AgentState::Suspect);
        assert!(registry.sweep(at(60)).is_empty());
        let offline = registry.sweep(at(75));
        assert_eq!(offline[0].to, AgentState::Offline);
        assert_eq!(registry.get("pc", at(75)).unwrap().capacity, None);
        let back = registry.heartbeat("pc", beat(&[20000]), at(80)).unwrap();
        assert_eq!(
            (back.from, back.to),
            (Some(AgentState::Offline), AgentState::Online)
        );
    }

    #[test]
    fn jittered_heartbeats_never_look_offline() {
        let mut registry = Registry::new(Thresholds::default());
        let mut t = 0;
        for i in 0..100 {
            registry.heartbeat("pc", beat(&[20000]), at(t));
            // 30 s ± 10 s: the worst case the thresholds must tolerate.
            let gap = if i % 2 == 0 { 40 } else { 20 };
            for s in 1..=gap {
                assert!(
                    registry.sweep(at(t + s)).is_empty(),
                    "false alarm at {}",
                    t + s
                );
            }
            t += gap;
        }
    }

    #[test]
    fn a_dropped_connection_is_offline_at_once_but_a_goodbye_is_leaving() {
        let mut registry = Registry::new(Thresholds::default());
        registry.heartbeat("a", beat(&[20000]), at(0));
        registry.heartbeat("b", beat(&[20000]), at(0));
        assert_eq!(
            registry.connection_lost("a", at(1)).unwrap().to,
            AgentState::Offline
        );
        assert_eq!(
            registry.goodbye("b", "stopping", at(1)).unwrap().to,
            AgentState::Leaving
        );
        assert_eq!(
            registry.connection_lost("b", at(2)),
            None,
            "leaving stays leaving"
        );
    }

    #[test]
    fn a_restart_gives_every_agent_a_fresh_window() {
        let mut before = Registry::new(Thresholds::default());
        before.heartbeat("pc", beat(&[20000]), at(0));
        let saved = before.list(at(0));
        let mut after = Registry::new(Thresholds::default());
        // The orchestrator was down for ten minutes.
        after.restore(saved, at(600));
        assert!(after.sweep(at(601)).is_empty(), "not declared dead at once");
        assert_eq!(
            after.get("pc", at(601)).unwrap().capacity,
            None,
            "old report is unknown"
        );
        assert_eq!(after.sweep(at(675))[0].to, AgentState::Offline);
    }

    #[test]
    fn two_agents_of_one_machine_count_it_once_in_the_totals() {
        let mut registry = Registry::new(Thresholds::default());
        for (id, agent_type) in [
            ("infra-lola", AgentType::Infra),
            ("desktop-lola", AgentType::Desktop),
        ] {
            let hello = Hello {
                agent_type,
                version: "1".into(),
                host: "lola".into(),
            };
            registry.hello(id, &hello, at(0));
            registry.heartbeat(id, beat(&[20000]), at(1));
        }
        let hello = Hello {
            agent_type: AgentType::Desktop,
            version: "1".into(),
            host: "nas".into(),
        };
        registry.hello("desktop-nas", &hello, at(0));
        registry.heartbeat("desktop-nas", beat(&[20000]), at(1));
        let totals = registry.totals(at(2));
        assert_eq!(totals.agents.get("online"), Some(&3));
        assert_eq!(
            (totals.cpu_cores, totals.gpus),
            (16, 2),
            "lola once, nas once"
        );
        assert_eq!(totals.memory_total_mb, 64000);
    }

    #[test]
    fn stale_reports_count_as_unknown_not_free() {
        let mut registry = Registry::new(Thresholds {
            suspect_after: Duration::from_secs(600),
            offline_after: Duration::from_secs(900),
            stale_after: Duration::from_secs(60),
        });
        registry.heartbeat("pc", beat(&[20000]), at(0));
        assert!(
            registry
                .place(AgentType::Desktop, &gpu_step(8.0), &[], false, at(59))
                .is_ok()
        );
        let err = registry
            .place(AgentType::Desktop, &gpu_step(8.0), &[], false, at(61))
            .unwrap_err();
        assert!(err.contains("no report younger than 60 s"), "{err}");
        assert_eq!(registry.totals(at(61)).unknown, 1);
    }

    #[test]
    fn a_gpu_step_goes_to_the_single_gpu_that_fits_after_bookings_and_headroom() {
        let mut registry = Registry::new(Thresholds::default());
        // Two small GPUs of 6 GiB free each must not add up to fit an 8 GiB step.
        registry.heartbeat("twin", beat(&[6144, 6144]), at(0));
        registry.heartbeat("big", beat(&[10000]), at(0));
        let placed = registry
            .place(AgentType::Desktop, &gpu_step(8.0), &[], false, at(1))
            .unwrap();
        assert_eq!(
            (placed.agent_id.as_str(), placed.gpu_index),
            ("big", Some(0))
        );
        assert!(placed.reason.contains("headroom"), "{}", placed.reason);
        // Booked: 10000 − 8192 − 1228 headroom leaves no room for a second one.
        registry.book("t1", &placed, &gpu_step(8.0));
        let err = registry
            .place(AgentType::Desktop, &gpu_step(8.0), &[], false, at(1))
            .unwrap_err();
        assert!(err.contains("8192 booked"), "{err}");
        // An agent that let a step down is passed over for it.
        let passed = registry
            .place(
                AgentType::Desktop,
                &gpu_step(8.0),
                &["big".to_owned()],
                false,
                at(1),
            )
            .unwrap_err();
        assert!(passed.contains("big did not take it"), "{passed}");
        registry.release("t1");
        assert!(
            registry
                .place(AgentType::Desktop, &gpu_step(8.0), &[], false, at(1))
                .is_ok()
        );
    }

    #[test]
    fn resuming_needs_room_on_two_reports_in_a_row() {
        let mut registry = Registry::new(Thresholds::default());
        registry.heartbeat("pc", beat(&[1000]), at(0));
        assert!(registry.all_full(AgentType::Desktop, &gpu_step(8.0), at(0)));
        registry.heartbeat("pc", beat(&[20000]), at(30));
        assert!(
            registry
                .place(AgentType::Desktop, &gpu_step(8.0), &[], false, at(30))
                .is_ok()
        );
        assert!(
            registry
                .place(AgentType::Desktop, &gpu_step(8.0), &[], true, at(30))
                .is_err()
        );
        registry.heartbeat("pc", beat(&[20000]), at(60));
        assert!(
            registry
                .place(AgentType::Desktop, &gpu_step(8.0), &[], true, at(60))
                .is_ok()
        );
    }
}
