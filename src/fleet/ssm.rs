//! The SSM Run Command transport: one `AWS-RunShellScript` command per batch of hosts, whose
//! script runs the agent container; the reply comes back as one marked line on stdout.
//!
//! Cost per batch (see `docs/ssm.md`): one SendCommand; per poll round one ListCommands (the
//! whole command's counts); once the completed count moves, ListCommandInvocations with
//! details, 50 instances a page; GetCommandInvocation only for an instance whose reply did not
//! fit the 2,500 characters that listing carries. Throttling is the SDK's adaptive retry.

use super::poll::{command_is_terminal, invocation_state, InvocationState, PollPolicy};
pub use super::ssm_script::{
    agent_script, host_arch, interpret, shell_quote, validate_image_ref, InvocationOutput,
    HOST_MARKER, HOST_STATE_DIR, MAX_REQUEST_BYTES, STDERR_LIMIT, STDOUT_LIMIT,
};
use super::ssm_script::{truncate_chars, with_host};
use super::transport::{FailureKind, HostFailure, HostRun, Transport};
use crate::agent::{AgentReply, AgentRequest};
use crate::report::{EventLog, Scope, StepStatus};
use anyhow::Context;
use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::types::CloudWatchOutputConfig;
use aws_sdk_ssm::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The SSM document that runs shell lines on Linux.
pub const DOCUMENT: &str = "AWS-RunShellScript";
/// How long SSM may take to hand the command to a host's agent (`TimeoutSeconds`). Preflight
/// already checked PingStatus, so a host that takes longer is reported, not waited for.
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// How the transport talks to SSM.
#[derive(Debug, Clone)]
pub struct SsmSettings {
    /// The image of this project that runs as the agent on each host.
    pub agent_image: String,
    /// The script's `executionTimeout`.
    pub command_timeout: Duration,
    /// SendCommand `TimeoutSeconds` (at least 30 s).
    pub delivery_timeout: Duration,
    /// When we give up on a batch and send CancelCommand; by default the delivery timeout
    /// plus the command timeout plus 30 s for the agent to report.
    pub deadline: Duration,
    pub output_s3_bucket: Option<String>,
    pub cloudwatch_log_group: Option<String>,
    pub poll: PollPolicy,
    /// Put in the command's comment (visible in the console's command history).
    pub comment: String,
}

impl SsmSettings {
    pub fn new(agent_image: String, command_timeout: Duration) -> Self {
        SsmSettings {
            agent_image,
            command_timeout,
            delivery_timeout: DEFAULT_DELIVERY_TIMEOUT,
            deadline: DEFAULT_DELIVERY_TIMEOUT + command_timeout + Duration::from_secs(30),
            output_s3_bucket: None,
            cloudwatch_log_group: None,
            poll: PollPolicy::default(),
            comment: "bluegreen".to_string(),
        }
    }

    /// Where the full output of a command can be read, for error messages.
    fn logs_hint(&self, command_id: &str, instance: &str, stdout_url: Option<&str>) -> String {
        self.output_hint(command_id, instance, stdout_url, "stdout")
    }

    /// Where the full `stream` (`stdout` or `stderr`) of a command can be read.
    fn output_hint(
        &self,
        command_id: &str,
        instance: &str,
        url: Option<&str>,
        stream: &str,
    ) -> String {
        let mut places = Vec::new();
        if let Some(url) = url.filter(|u| !u.is_empty()) {
            places.push(url.to_string());
        } else if let Some(bucket) = &self.output_s3_bucket {
            places.push(format!("s3://{bucket}/bluegreen/{command_id}/{instance}/"));
        }
        if let Some(group) = &self.cloudwatch_log_group {
            places.push(format!(
                "CloudWatch Logs group {group}, stream {command_id}/{instance}/aws-runShellScript/{stream}"
            ));
        }
        if places.is_empty() {
            "full output was not kept: set --output-s3-bucket or --cloudwatch-log-group".into()
        } else {
            format!("full output: {}", places.join("; "))
        }
    }
}

/// AWS API calls made, by operation: the figures of the scale benchmark.
#[derive(Debug, Default)]
pub struct ApiCalls {
    pub send_command: AtomicU64,
    pub list_commands: AtomicU64,
    pub list_command_invocations: AtomicU64,
    pub get_command_invocation: AtomicU64,
    pub cancel_command: AtomicU64,
    pub describe_instance_information: AtomicU64,
    /// Rounds of polling (each is one ListCommands).
    pub poll_rounds: AtomicU64,
}

impl ApiCalls {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BTreeMap::from([
            ("SendCommand", get(&self.send_command)),
            ("ListCommands", get(&self.list_commands)),
            (
                "ListCommandInvocations",
                get(&self.list_command_invocations),
            ),
            ("GetCommandInvocation", get(&self.get_command_invocation)),
            ("CancelCommand", get(&self.cancel_command)),
            (
                "DescribeInstanceInformation",
                get(&self.describe_instance_information),
            ),
            ("poll_rounds", get(&self.poll_rounds)),
        ])
    }
}

/// Runs agent requests on EC2 instances through SSM Run Command.
#[derive(Debug, Clone)]
pub struct SsmTransport {
    client: Client,
    settings: SsmSettings,
    events: EventLog,
    calls: Arc<ApiCalls>,
    /// Commands sent and not yet finished, for [`SsmTransport::cancel_in_flight`].
    in_flight: Arc<Mutex<BTreeSet<String>>>,
}

/// An SSM client with adaptive retry (client-side rate limiting on throttling, 10 attempts),
/// the fix AWS's own tools adopted for ListCommandInvocations loops that got throttled.
/// `AWS_ENDPOINT_URL_SSM` points it elsewhere (the test server). Every call goes into
/// `events`' command log.
pub async fn client(region: Option<&str>, events: &EventLog) -> Client {
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).retry_config(retry_config());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_string()));
    }
    let config = aws_sdk_ssm::config::Builder::from(&loader.load().await)
        .interceptor(crate::aws::CallLog::interceptor(events, &Scope::Pipeline))
        .build();
    Client::from_conf(config)
}

/// Adaptive retry: backs off and rate-limits the client when SSM answers ThrottlingException.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::adaptive()
        .with_max_attempts(10)
        .with_initial_backoff(Duration::from_millis(200))
}

impl SsmTransport {
    pub fn new(client: Client, settings: SsmSettings, events: EventLog) -> Self {
        SsmTransport {
            client,
            settings,
            events,
            calls: Arc::default(),
            in_flight: Arc::default(),
        }
    }

    /// The same transport for one command that may run longer than the fleet's
    /// `--command-timeout` (the release phase): its `executionTimeout` and deadline cover
    /// `command_timeout`. It shares the API counters and the commands in flight.
    pub fn for_command_lasting(&self, command_timeout: Duration) -> SsmTransport {
        let mut t = self.clone();
        if command_timeout > t.settings.command_timeout {
            t.settings.deadline += command_timeout - t.settings.command_timeout;
            t.settings.command_timeout = command_timeout;
        }
        t
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn calls(&self) -> Arc<ApiCalls> {
        self.calls.clone()
    }

    fn track(&self, command_id: &str, running: bool) {
        // A poisoned lock only means a panic elsewhere; the set itself is still valid.
        let mut set = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if running {
            set.insert(command_id.to_string());
        } else {
            set.remove(command_id);
        }
    }

    /// Cancels every command still running (the run was interrupted). Returns the ids
    /// cancelled. SSM does not guarantee that the processes stop.
    pub async fn cancel_in_flight(&self) -> Vec<String> {
        let ids: Vec<String> = {
            let set = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            set.iter().cloned().collect()
        };
        for id in &ids {
            ApiCalls::bump(&self.calls.cancel_command);
            if let Err(e) = self.client.cancel_command().command_id(id).send().await {
                tracing::warn!("CancelCommand {id}: {}", DisplayErrorContext(e));
            }
        }
        ids
    }

    pub(crate) fn count_describe(&self) {
        ApiCalls::bump(&self.calls.describe_instance_information);
    }

    /// One batch: send, poll until every host ended or the deadline, read the replies.
    async fn run_command(&self, hosts: &[String], request: &AgentRequest) -> Vec<HostRun> {
        let fail_all = |kind: FailureKind, message: String| {
            hosts
                .iter()
                .map(|h| HostRun {
                    host: h.clone(),
                    arch: None,
                    result: Err(HostFailure {
                        kind,
                        message: message.clone(),
                    }),
                })
                .collect()
        };
        let timer = self.events.start(&Scope::Pipeline, "ssm_command");
        let command_id = match self.send(hosts, request).await {
            Ok(id) => id,
            Err(e) => {
                let message = format!("{e:#}");
                timer.fail(message.clone());
                return fail_all(FailureKind::Api, message);
            }
        };
        self.track(&command_id, true);
        let runs = self.wait(&command_id, hosts).await;
        self.track(&command_id, false);
        let failed = runs.iter().filter(|r| r.result.is_err()).count();
        timer.ok(format!(
            "command {command_id}: {} hosts, {failed} without a usable reply",
            hosts.len()
        ));
        runs
    }

    /// Sends the request to the hosts (at most 50) as one command; returns its id.
    pub async fn send(&self, hosts: &[String], request: &AgentRequest) -> anyhow::Result<String> {
        let script = agent_script(&self.settings.agent_image, request)?;
        let s = &self.settings;
        let mut send = self
            .client
            .send_command()
            .document_name(DOCUMENT)
            .set_instance_ids(Some(hosts.to_vec()))
            .parameters("commands", script)
            .parameters(
                "executionTimeout",
                vec![s.command_timeout.as_secs().clamp(1, 172_800).to_string()],
            )
            .timeout_seconds(s.delivery_timeout.as_secs().clamp(30, 2_592_000) as i32)
            .comment(truncate_chars(&s.comment, 100))
            // Our own budget decides: let SSM run every host of the batch at once and never
            // stop it early (its MaxErrors ignores Undeliverable anyway).
            .max_concurrency(hosts.len().to_string())
            .max_errors(hosts.len().to_string());
        if let Some(bucket) = &s.output_s3_bucket {
            send = send
                .output_s3_bucket_name(bucket)
                .output_s3_key_prefix("bluegreen");
        }
        if let Some(group) = &s.cloudwatch_log_group {
            send = send.cloud_watch_output_config(
                CloudWatchOutputConfig::builder()
                    .cloud_watch_log_group_name(group)
                    .cloud_watch_output_enabled(true)
                    .build(),
            );
        }
        ApiCalls::bump(&self.calls.send_command);
        let out = send
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("SendCommand: {}", DisplayErrorContext(e)))?;
        out.command()
            .and_then(|c| c.command_id())
            .map(str::to_string)
            .context("SendCommand returned no command id")
    }

    /// Polls the command until every host has a result, or cancels it at the deadline.
    pub async fn wait(&self, command_id: &str, hosts: &[String]) -> Vec<HostRun> {
        let started = Instant::now();
        let mut done: BTreeMap<String, HostRun> = BTreeMap::new();
        loop {
            tokio::time::sleep(self.settings.poll.next_interval(started.elapsed())).await;
            // Read the invocations only when SSM counts more ended than we hold: that also
            // re-reads one whose output was not visible yet (InvocationDoesNotExist).
            let worth_listing = match self.progress(command_id).await {
                Ok(Some((status, completed))) => {
                    usize::try_from(completed).unwrap_or(0) > done.len()
                        || command_is_terminal(&status)
                }
                // ListCommands can lag SendCommand: no command yet is "pending".
                Ok(None) => false,
                // One failed poll is not a verdict; the deadline bounds the retries.
                Err(e) => {
                    tracing::warn!("ListCommands {command_id}: {e:#}");
                    false
                }
            };
            if worth_listing {
                self.collect_finished(command_id, hosts, &mut done).await;
            }
            if done.len() == hosts.len() {
                break;
            }
            if started.elapsed() >= self.settings.deadline {
                self.cancel_at_deadline(command_id, hosts, &mut done).await;
                break;
            }
        }
        hosts.iter().filter_map(|h| done.remove(h)).collect()
    }

    /// `ListCommands` for one command: its status and how many invocations ended.
    /// `None` while SSM does not list the command yet (eventual consistency).
    pub async fn progress(&self, command_id: &str) -> anyhow::Result<Option<(String, i32)>> {
        ApiCalls::bump(&self.calls.poll_rounds);
        ApiCalls::bump(&self.calls.list_commands);
        let out = self
            .client
            .list_commands()
            .command_id(command_id)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(e)))?;
        Ok(out.commands().first().map(|c| {
            (
                c.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                c.completed_count(),
            )
        }))
    }

    /// Reads every ended invocation of the command not read yet, 50 a page.
    async fn collect_finished(
        &self,
        command_id: &str,
        hosts: &[String],
        done: &mut BTreeMap<String, HostRun>,
    ) {
        let mut next_token: Option<String> = None;
        loop {
            ApiCalls::bump(&self.calls.list_command_invocations);
            let page = self
                .client
                .list_command_invocations()
                .command_id(command_id)
                .details(true)
                .max_results(50)
                .set_next_token(next_token.take())
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(
                        "ListCommandInvocations {command_id}: {}",
                        DisplayErrorContext(e)
                    );
                    return;
                }
            };
            for inv in page.command_invocations() {
                let Some(instance) = inv.instance_id() else {
                    continue;
                };
                if done.contains_key(instance) || !hosts.iter().any(|h| h == instance) {
                    continue;
                }
                let status = inv.status().map(|s| s.as_str()).unwrap_or("");
                let state = invocation_state(status, inv.status_details());
                if state == InvocationState::Running {
                    continue;
                }
                let listed_output: String = inv
                    .command_plugins()
                    .iter()
                    .filter_map(|p| p.output())
                    .collect::<Vec<_>>()
                    .join("\n");
                if let Some(run) = self
                    .read_result(command_id, instance, state, &listed_output)
                    .await
                {
                    done.insert(instance.to_string(), run);
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => next_token = Some(t.to_string()),
                _ => return,
            }
        }
    }

    /// The result of one ended invocation. The listed plugin output (2,500 characters at
    /// most) usually holds the reply; otherwise GetCommandInvocation brings the first 24,000.
    /// `None` while GetCommandInvocation still says InvocationDoesNotExist.
    async fn read_result(
        &self,
        command_id: &str,
        instance: &str,
        state: InvocationState,
        listed_output: &str,
    ) -> Option<HostRun> {
        let carries_reply = matches!(
            state,
            InvocationState::Succeeded | InvocationState::Ended(FailureKind::Failed)
        );
        if carries_reply {
            if let Ok(reply) = AgentReply::from_stdout(listed_output) {
                let reply = with_host(reply, instance);
                self.note_left_out_commands(&reply, command_id, None);
                return Some(HostRun {
                    host: instance.to_string(),
                    arch: host_arch(listed_output),
                    result: Ok(reply),
                });
            }
        }
        ApiCalls::bump(&self.calls.get_command_invocation);
        let out = self
            .client
            .get_command_invocation()
            .command_id(command_id)
            .instance_id(instance)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                let missing = e
                    .as_service_error()
                    .is_some_and(|e| e.is_invocation_does_not_exist());
                if missing {
                    return None;
                }
                return Some(HostRun {
                    host: instance.to_string(),
                    arch: host_arch(listed_output),
                    result: Err(HostFailure {
                        kind: FailureKind::Api,
                        message: format!("GetCommandInvocation: {}", DisplayErrorContext(e)),
                    }),
                });
            }
        };
        let output = InvocationOutput {
            stdout: out.standard_output_content().unwrap_or_default(),
            stderr: out.standard_error_content().unwrap_or_default(),
            response_code: out.response_code(),
            logs_hint: self
                .settings
                .logs_hint(command_id, instance, out.standard_output_url()),
        };
        let result = interpret(state, &output).map(|r| with_host(r, instance));
        if let Ok(reply) = &result {
            self.note_left_out_commands(reply, command_id, out.standard_error_url());
        }
        Some(HostRun {
            host: instance.to_string(),
            arch: host_arch(output.stdout),
            result,
        })
    }

    /// Says where what did not fit a host's reply is: the commands too many for it, and the
    /// release command's whole output (the reply carries its last lines). The agent wrote
    /// them to its stderr, which SSM keeps whole in S3 or CloudWatch Logs when configured.
    fn note_left_out_commands(
        &self,
        reply: &AgentReply,
        command_id: &str,
        stderr_url: Option<&str>,
    ) {
        let hint = || {
            self.settings
                .output_hint(command_id, &reply.host, stderr_url, "stderr")
        };
        let scope = Scope::Host(reply.host.clone());
        if reply.commands_left_out > 0 {
            self.events.note(
                &scope,
                "commands",
                StepStatus::Warning,
                format!(
                    "{} older commands are not in this report (a reply carries the newest {}); the agent wrote them to its stderr: {}",
                    reply.commands_left_out,
                    crate::agent::REPLY_COMMANDS,
                    hint()
                ),
            );
        }
        if reply.release.as_ref().is_some_and(|r| r.ran) {
            self.events.note(
                &scope,
                "release-output",
                StepStatus::Ok,
                format!(
                    "the release command's whole output is on the agent's stderr: {}",
                    hint()
                ),
            );
        }
    }

    /// Cancels what has not ended, and reports those hosts as past the deadline.
    async fn cancel_at_deadline(
        &self,
        command_id: &str,
        hosts: &[String],
        done: &mut BTreeMap<String, HostRun>,
    ) {
        let pending: Vec<String> = hosts
            .iter()
            .filter(|h| !done.contains_key(*h))
            .cloned()
            .collect();
        ApiCalls::bump(&self.calls.cancel_command);
        let cancel = self
            .client
            .cancel_command()
            .command_id(command_id)
            .set_instance_ids(Some(pending.clone()))
            .send()
            .await;
        let cancel_note = match cancel {
            Ok(_) => "CancelCommand sent (SSM does not guarantee the process stops)".to_string(),
            Err(e) => format!("CancelCommand failed: {}", DisplayErrorContext(e)),
        };
        for host in pending {
            let message = format!(
                "no result after {}s; {cancel_note}; {}",
                self.settings.deadline.as_secs(),
                self.settings.logs_hint(command_id, &host, None)
            );
            done.insert(
                host.clone(),
                HostRun {
                    host,
                    arch: None,
                    result: Err(HostFailure {
                        kind: FailureKind::DeadlineExceeded,
                        message,
                    }),
                },
            );
        }
    }
}

impl Transport for SsmTransport {
    async fn run(&self, host: &str, request: &AgentRequest) -> anyhow::Result<AgentReply> {
        let run = self
            .run_command(&[host.to_string()], request)
            .await
            .pop()
            .context("SSM returned no result for the host")?;
        run.result.map_err(anyhow::Error::from)
    }

    /// One SendCommand per 50 hosts, polled together.
    async fn run_batch(&self, hosts: &[String], request: &AgentRequest) -> Vec<HostRun> {
        let commands = hosts
            .chunks(super::targets::MAX_IDS_PER_COMMAND)
            .map(|chunk| self.run_command(chunk, request));
        futures_util::future::join_all(commands)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}
