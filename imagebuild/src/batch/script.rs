//! `run.sh`: the whole run of one job with the Azure CLI, written beside
//! the job's bodies: `submit` (upload the book, and a risk job's
//! scenarios and market, each file given checked first; create the pool if it is
//! missing, create the job, add the tasks, set `terminatejob`; a job left
//! half-made is stopped), `status` (task counts in one call, the failed
//! tasks with their exit codes and `stderr.txt` links), `wait` (status
//! until the job ends, within a time limit, stopping early on a pool that
//! cannot grow; exit 0 only if every task succeeded), `download` (only a
//! job that succeeded; the results checked: one row per trade of the book,
//! no trade twice), and `all`.
//!
//! Credentials are the Azure CLI's: `az login` (and `az batch account
//! login`), or the variables the CLI reads itself (`AZURE_BATCH_ACCOUNT`,
//! `AZURE_BATCH_ENDPOINT`, `AZURE_BATCH_ACCESS_KEY`); storage with
//! `--auth-mode login`, or `AZURE_STORAGE_CONNECTION_STRING` when set (read
//! by `az` from the environment, never passed on a command line).
//! `RISKPOOL_ARM_ENDPOINT` replaces `https://management.azure.com` (tests
//! point it at 127.0.0.1).

use super::job::JobOptions;
use super::ARM_API_VERSION;

/// Where the pool is created if missing: the Batch account's resource id
/// and the management-plane body's file name in the job folder.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolCreation {
    /// `/subscriptions/S/resourceGroups/RG/providers/Microsoft.Batch/batchAccounts/A`.
    pub account_id: String,
    pub body_file: String,
}

/// Whether `id` is a Batch account's resource id.
pub fn account_id_ok(id: &str) -> bool {
    let p: Vec<&str> = id.split('/').collect();
    p.len() == 9
        && p[0].is_empty()
        && p[1].eq_ignore_ascii_case("subscriptions")
        && p[3].eq_ignore_ascii_case("resourceGroups")
        && p[5].eq_ignore_ascii_case("providers")
        && p[6].eq_ignore_ascii_case("Microsoft.Batch")
        && p[7].eq_ignore_ascii_case("batchAccounts")
        && p.iter().skip(1).all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.()".contains(&b))
        })
        && (3..=24).contains(&p[8].len())
}

/// `s` as one POSIX shell word: as it is when it holds only characters no
/// shell treats specially, else in single quotes (a `'` as `'\''`).
pub fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:@%+=,-".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Seconds `run.sh wait` waits by default: the job's time limit and a
/// quarter of an hour for Batch to end it, by when the job has ended
/// whatever its tasks did.
pub fn wait_seconds(o: &JobOptions) -> u64 {
    crate::schema::duration_seconds(&o.job_time_limit).map_or(86_400, |s| s.ceil() as u64) + 900
}

/// The script's text. Every value in it has passed [`super::rules`], and
/// each is written as one quoted shell word besides; the script hands them
/// to `az` as `--flag=VALUE`, so a value that begins with `-` (a job id
/// `-x` is a valid Batch id) is never read as an option.
///
/// What it takes from Batch before it calls a job done: the job ended
/// because all its tasks completed (`executionInfo.terminateReason`
/// `AllTasksComplete`, not `TaskFailed`, `MaxWallClockTimeExpiry` or a
/// stop) and no task failed (`executionInfo/result eq 'failure'`, a list
/// query, exact where task counts may lag); `download` fetches nothing
/// from a job that did not. `wait` stops at `RISKPOOL_WAIT_SECONDS`, and
/// when the pool has no node and its last resize ended in errors
/// (`resizeErrors`: quota, spot cores in a Batch-managed account).
pub fn run_sh(o: &JobOptions, pool: Option<&PoolCreation>, collections: usize) -> String {
    let url = o.storage.url.trim_end_matches('/');
    let (account, container) = url
        .strip_prefix("https://")
        .and_then(|r| r.split_once('/'))
        .map(|(host, c)| (host.split('.').next().unwrap_or(host), c))
        .unwrap_or(("", ""));
    let book = o.book.clone().unwrap_or_default();
    let scenarios = o.scenarios.clone().unwrap_or_default();
    let market = o.market.clone().unwrap_or_default();
    let kind = match o.kind {
        super::job::JobKind::Price => "price",
        super::job::JobKind::Risk => "risk",
    };
    let (pool_account, pool_body) = pool
        .map(|p| (p.account_id.as_str(), p.body_file.as_str()))
        .unwrap_or(("", ""));
    let mut s = String::new();
    s.push_str(&format!(
        r#"#!/bin/sh
# riskpool job {job}: the whole run with the Azure CLI (written by riskpool-image batch job).
#   ./run.sh submit [BOOK.csv]   upload the book (a job made with --book), create the pool if
#                                missing, create the job, add its tasks, then set terminatejob;
#                                if that fails half-way, stop (terminate) the half-made job
#   ./run.sh status              task counts; failed tasks with exit codes and stderr.txt links
#   ./run.sh wait                status every $RISKPOOL_POLL_SECONDS (30) until the job ends; exit 0
#                                only if every task succeeded; gives up after $RISKPOOL_WAIT_SECONDS
#                                ({wait}) or when the pool has no node and cannot grow
#   ./run.sh download [OUT.csv]  if the job succeeded, fetch {job}/results.csv, check one row per
#                                trade, keep it as OUT.csv (default: results.csv beside this script)
#   ./run.sh all [BOOK.csv]      submit, wait, download
# Risk jobs (--kind risk): submit [BOOK.jsonl [SCENARIOS.csv [MARKET.json]]] uploads each file given
# (the market file for a job made with --market); all takes the same; download [DIR] fetches
# {job}/pnl.csv, pnl.csv.summary.json, by-trade.csv and risk.html into DIR (default: beside this script).
# Exit: 0 done; 1 the job failed (its failed tasks named) or a call failed; 2 bad usage or file;
# 3 not finished: wait gave up, or download before the job ended.
# Credentials: az login and az batch account login (or AZURE_BATCH_ACCOUNT, AZURE_BATCH_ENDPOINT,
# AZURE_BATCH_ACCESS_KEY); storage by --auth-mode login, or AZURE_STORAGE_CONNECTION_STRING, which
# az reads from the environment itself: it is never put on a command line.
set -eu
# Paths given on the command line are the caller's; the script's files are beside it.
HERE=$(pwd)
abs() {{ case "$1" in /*) echo "$1" ;; *) echo "$HERE/$1" ;; esac; }}
cd "$(dirname -- "$0")"
JOB={qjob}
POOL={qpool}
STORAGE_URL={qurl}
STORAGE_ACCOUNT={qaccount}
CONTAINER={qcontainer}
BOOK_BLOB={qbook}
KIND={kind}
SCENARIOS_BLOB={qscenarios}
MARKET_BLOB={qmarket}
TRADES={trades}
PARTS={parts}
COLLECTIONS={collections}
JOB_TIME_LIMIT={qjob_limit}
WAIT_SECONDS_DEFAULT={wait}
POOL_ACCOUNT_ID={qpool_account}
POOL_BODY={qpool_body}
ARM=${{RISKPOOL_ARM_ENDPOINT:-https://management.azure.com}}
API={api}
TAB=$(printf '\t')

say() {{ echo "run.sh: $*" >&2; }}
die() {{ say "$1"; exit "${{2:-1}}"; }}
command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not on PATH" 2

storage() {{
  # A connection string stays in the environment, where az storage reads it itself: on a
  # command line every user of the machine could read it (ps).
  if [ -n "${{AZURE_STORAGE_CONNECTION_STRING:-}}" ]; then
    az storage "$@" --only-show-errors
  else
    az storage "$@" --account-name="$STORAGE_ACCOUNT" --auth-mode login --only-show-errors
  fi
}}

# Trades in an azfinsim file: its non-empty lines less the header.
rows() {{ echo $(( $(grep -c . "$1") - 1 )); }}

# A half-made job would run part of the graph, or stay active for ever: stop it.
abandon() {{
  say "$1"
  if az batch job stop --job-id="$JOB" --terminate-reason="riskpool: submit failed" --only-show-errors >/dev/null; then
    die "submit failed: job $JOB was stopped (terminated); delete it (az batch job delete --job-id=$JOB) before submitting again under this id"
  fi
  die "submit failed, and stopping job $JOB failed too: stop it (az batch job stop --job-id=$JOB) or delete it"
}}

submit() {{
  # Every file given is checked before any is uploaded.
  book=
  if [ -n "$BOOK_BLOB" ] && [ -n "${{1:-}}" ]; then
    book=$(abs "$1")
    [ -f "$book" ] || die "$book: no such file" 2
    if [ "$KIND" = price ]; then
      # split reads azfinsim CSV only, its header first.
      awk 'NR == 1 {{ sub(/^\357\273\277/, ""); sub(/^[ \t]+/, ""); ok = $0 ~ /^tradenum[ \t]*,/; exit }} END {{ exit !ok }}' "$book" ||
        die "$book is not an azfinsim CSV trade file (its first line is not the header tradenum,...): a price job splits and prices azfinsim CSV only" 2
      n=$(rows "$book")
      [ "$n" -eq "$TRADES" ] || die "$book holds $n trades; this job was made for $TRADES (--trades)" 2
    fi
  fi
  scen=
  if [ -n "$SCENARIOS_BLOB" ] && [ -n "${{2:-}}" ]; then
    scen=$(abs "$2")
    [ -f "$scen" ] || die "$scen: no such file" 2
  fi
  market=
  if [ -n "${{3:-}}" ]; then
    # Its tasks would not read it: refused rather than uploaded for nothing.
    [ -n "$MARKET_BLOB" ] ||
      die "$3: job $JOB was made without --market, so its tasks read no market file: make the job again with --market NAME" 2
    market=$(abs "$3")
    [ -f "$market" ] || die "$market: no such file" 2
  fi
  # $1 the file (empty: none given), $2 its blob, $3 what it is.
  put() {{
    if [ -n "$1" ]; then
      say "uploading $1 to $CONTAINER/$2"
      storage blob upload --container-name="$CONTAINER" --name="$2" --file="$1" --overwrite --no-progress >/dev/null
    else
      say "no $3 file given: the job reads $CONTAINER/$2 as it is"
    fi
  }}
  [ -z "$BOOK_BLOB" ] || put "$book" "$BOOK_BLOB" book
  [ -z "$SCENARIOS_BLOB" ] || put "$scen" "$SCENARIOS_BLOB" scenario
  [ -z "$MARKET_BLOB" ] || put "$market" "$MARKET_BLOB" market
  if [ -n "$POOL_ACCOUNT_ID" ]; then
    pool_url="$ARM$POOL_ACCOUNT_ID/pools/$POOL?api-version=$API"
    if az rest --method get --url="$pool_url" --only-show-errors >/dev/null 2>&1; then
      say "pool $POOL exists"
    else
      say "creating pool $POOL"
      az rest --method put --url="$pool_url" --body="@$POOL_BODY" --only-show-errors >/dev/null
    fi
  fi
  say "creating job $JOB"
  az batch job create --json-file job.json --only-show-errors >/dev/null
  i=0
  while [ "$i" -lt "$COLLECTIONS" ]; do
    f=$(printf 'tasks-%04d.json' "$i")
    az batch task create --job-id="$JOB" --json-file="$f" --only-show-errors >/dev/null ||
      abandon "adding the tasks of $f failed"
    i=$((i + 1))
  done
  az batch job set --job-id="$JOB" --on-all-tasks-complete terminatejob --only-show-errors >/dev/null ||
    abandon "setting terminatejob failed: the job would never end"
  say "added the tasks ($COLLECTIONS collections); the job ends when they are done"
}}

# The job's state and, once it has ended, why: STATE<TAB>REASON (a list of one row: tsv writes
# a bare list one item a line).
job_info() {{
  az batch job show --job-id="$JOB" --select="state,executionInfo" \
    --query="[[state, executionInfo.terminateReason || '']]" --output tsv --only-show-errors
}}

# The failed tasks, one a line: ID<TAB>EXIT CODE<TAB>FAILURE CODE (a list query: exact, where
# task counts may lag).
failed_tasks() {{
  az batch task list --job-id="$JOB" --filter="executionInfo/result eq 'failure'" --select="id,executionInfo" \
    --query="[].[id, executionInfo.exitCode || '-', executionInfo.failureInfo.code || '-']" --output tsv --only-show-errors
}}

# The failed tasks as a person reads them: exit code, stderr.txt, failure code.
show_failed() {{
  awk -v url="$STORAGE_URL" -v job="$JOB" -F '\t' '
    NF {{ printf "  failed: %s\t exit %s\t%s/%s/logs/%s/stderr.txt%s\n", $1, $2, url, job, $1, ($3 == "-" ? "" : "\t" $3) }}'
}}

status() {{
  c=$(az batch job task-counts show --job-id="$JOB" \
    --query="[taskCounts.[active, running, completed, succeeded, failed]]" --output tsv --only-show-errors) ||
    die "cannot read the task counts of job $JOB" 1
  IFS="$TAB" read -r active running completed succeeded failed <<EOF
$c
EOF
  echo "tasks: $active active, $running running, $completed completed ($failed failed)"
  # The failed ones' details only, not every task.
  if [ "${{failed:-0}}" -gt 0 ]; then
    failed_tasks | show_failed
  fi
}}

# Whether the job succeeded: it ended because all its tasks completed (not a failed task, its
# time limit or a stop) and no task failed. Else says why, names the failed tasks and exits 1.
# $1 $2: the job's state and terminate reason; $3: what is refused when it did not.
require_success() {{
  [ "$1" = completed ] || die "job $JOB is $1, not completed: $3 (run.sh wait first)" 3
  failed=$(failed_tasks) || die "cannot list the failed tasks of job $JOB" 1
  [ "$2" = AllTasksComplete ] && [ -z "$failed" ] && return 0
  case "$2" in
    AllTasksComplete) why="tasks failed" ;;
    TaskFailed) why="a task failed for good and ended it (TaskFailed)" ;;
    MaxWallClockTimeExpiry) why="it reached its time limit, $JOB_TIME_LIMIT (MaxWallClockTimeExpiry)" ;;
    *) why="it was stopped: ${{2:-no reason given}}" ;;
  esac
  say "job $JOB did not succeed: $why"
  [ -z "$failed" ] || printf '%s\n' "$failed" | show_failed >&2
  die "$3" 1
}}

# The job's state and reason, refused unless it succeeded: $1 what is refused.
require_job_succeeded() {{
  info=$(job_info) || die "cannot read job $JOB" 1
  reason=${{info#*"$TAB"}}
  [ "$reason" != "$info" ] || reason=
  require_success "${{info%%"$TAB"*}}" "$reason" "$1"
}}

# The pool, while the job waits on it: resize errors are reported; 1 when the pool has no node
# and its last resize is over with errors (quota, spot cores in a Batch-managed account), so no
# task can start.
pool_stuck() {{
  p=$(az batch pool show --pool-id="$POOL" \
    --select="allocationState,currentDedicatedNodes,currentLowPriorityNodes,resizeErrors" \
    --query="[[allocationState, currentDedicatedNodes, currentLowPriorityNodes, join(' | ', (resizeErrors || \`[]\`)[].join(': ', [code || '', message || '']))]]" \
    --output tsv --only-show-errors) ||
    die "cannot read pool $POOL, which job $JOB runs on and waits for: run.sh wait again once the pool is there" 3
  IFS="$TAB" read -r allocation dedicated spot errors <<EOF
$p
EOF
  [ -n "${{errors:-}}" ] || return 0
  say "pool $POOL: resize error: $errors"
  if [ "$allocation" = steady ] && [ "$dedicated" -eq 0 ] && [ "$spot" -eq 0 ]; then
    return 1
  fi
  say "pool $POOL: the job runs on the nodes it has ($dedicated dedicated, $spot spot)"
}}

# A whole number of seconds from the environment: $1 the name, $2 the value.
seconds() {{
  case "$2" in
    '' | *[!0-9]*) die "$1=$2: give a whole number of seconds" 2 ;;
  esac
  echo "$2"
}}

wait_job() {{
  limit=$(seconds RISKPOOL_WAIT_SECONDS "${{RISKPOOL_WAIT_SECONDS:-$WAIT_SECONDS_DEFAULT}}")
  poll=$(seconds RISKPOOL_POLL_SECONDS "${{RISKPOOL_POLL_SECONDS:-30}}")
  start=$(date +%s)
  while :; do
    info=$(job_info) || die "cannot read job $JOB" 1
    state=${{info%%"$TAB"*}}
    reason=${{info#*"$TAB"}}
    [ "$reason" != "$info" ] || reason=
    status
    if [ "$state" = completed ]; then
      require_success "$state" "$reason" "no results are taken from it"
      say "job $JOB succeeded"
      return 0
    fi
    pool_stuck ||
      die "pool $POOL has no node and cannot grow: job $JOB ($state) would wait for ever. Fix the pool (quota, allocation mode, size) and run.sh wait again, or stop the job (az batch job stop --job-id=$JOB)" 3
    left=$((limit - ($(date +%s) - start)))
    [ "$left" -gt 0 ] ||
      die "gave up waiting after $limit seconds (RISKPOOL_WAIT_SECONDS): job $JOB is $state and may still run; run.sh wait again, or stop it (az batch job stop --job-id=$JOB)" 3
    [ "$left" -ge "$poll" ] || poll=$left
    sleep "$poll"
  done
}}

download_risk() {{
  dir=.
  [ -z "${{1:-}}" ] || dir=$(abs "$1")
  [ -d "$dir" ] || die "$dir: no such folder" 2
  require_job_succeeded "not downloading its figures: they would be another run's, or none"
  for f in pnl.csv pnl.csv.summary.json by-trade.csv risk.html; do
    storage blob download --container-name="$CONTAINER" --name="$JOB/$f" --file="$dir/$f.part" --no-progress >/dev/null
  done
  for f in pnl.csv pnl.csv.summary.json by-trade.csv risk.html; do
    mv "$dir/$f.part" "$dir/$f"
  done
  say "$dir/pnl.csv: $(( $(grep -c . "$dir/pnl.csv") - 1 )) scenarios; VaR and ES in $dir/pnl.csv.summary.json"
}}

download() {{
  if [ "$KIND" = risk ]; then
    download_risk "${{1:-}}"
    return
  fi
  out=results.csv
  [ -z "${{1:-}}" ] || out=$(abs "$1")
  [ -d "$(dirname "$out")" ] || die "$(dirname "$out"): no such folder" 2
  require_job_succeeded "not downloading $JOB/results.csv: it would be another run's, or none"
  storage blob download --container-name="$CONTAINER" --name="$JOB/results.csv" --file="$out.part" --no-progress >/dev/null
  n=$(rows "$out.part")
  distinct=$(tail -n +2 "$out.part" | cut -d, -f1 | sort -u | grep -c . || true)
  if [ "$n" -ne "$TRADES" ] || [ "$distinct" -ne "$TRADES" ]; then
    die "$JOB/results.csv has $n rows and $distinct distinct trades, not the book's $TRADES (kept as $out.part)"
  fi
  mv "$out.part" "$out"
  say "$out: $n trades priced"
}}

case "${{1:-}}" in
  submit) submit "${{2:-}}" "${{3:-}}" "${{4:-}}" ;;
  status) status ;;
  wait) wait_job ;;
  download) download "${{2:-}}" ;;
  all) submit "${{2:-}}" "${{3:-}}" "${{4:-}}"; wait_job; download ;;
  *) die "usage: run.sh submit [BOOK.csv] | status | wait | download [OUT.csv] | all [BOOK.csv]; risk jobs: submit|all [BOOK.jsonl [SCENARIOS.csv [MARKET.json]]], download [DIR]" 2 ;;
esac
"#,
        job = o.id,
        qjob = sh_quote(&o.id),
        qpool = sh_quote(&o.pool_id),
        qurl = sh_quote(url),
        qaccount = sh_quote(account),
        qcontainer = sh_quote(container),
        qbook = sh_quote(&book),
        qscenarios = sh_quote(&scenarios),
        qmarket = sh_quote(&market),
        qpool_account = sh_quote(pool_account),
        qpool_body = sh_quote(pool_body),
        qjob_limit = sh_quote(&o.job_time_limit),
        wait = wait_seconds(o),
        trades = o.trades,
        parts = o.parts(),
        api = ARM_API_VERSION,
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("-x"), "-x");
        assert_eq!(sh_quote("a/b.csv"), "a/b.csv");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("rg(1)"), "'rg(1)'");
        assert_eq!(sh_quote("it's $x"), r"'it'\''s $x'");
    }
}
