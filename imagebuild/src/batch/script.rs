//! `run.sh`: the whole run of one job with the Azure CLI, written beside
//! the job's bodies: `submit` (upload the book, create the pool if it is
//! missing, create the job, add the tasks, set `terminatejob`), `status`
//! (task counts, failed tasks with their exit codes and `stderr.txt`
//! links), `wait` (status until the job completes), `download` (the results,
//! checked: one row per trade of the book, no trade twice), and `all`.
//!
//! Credentials are the Azure CLI's: `az login` (and `az batch account
//! login`), or the variables the CLI reads itself (`AZURE_BATCH_ACCOUNT`,
//! `AZURE_BATCH_ENDPOINT`, `AZURE_BATCH_ACCESS_KEY`); storage with
//! `--auth-mode login`, or `AZURE_STORAGE_CONNECTION_STRING` when set.
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

/// The script's text. Every value in it has passed [`super::rules`], and
/// each is written as one quoted shell word besides; the script hands them
/// to `az` as `--flag=VALUE`, so a value that begins with `-` (a job id
/// `-x` is a valid Batch id) is never read as an option.
pub fn run_sh(o: &JobOptions, pool: Option<&PoolCreation>, collections: usize) -> String {
    let url = o.storage.url.trim_end_matches('/');
    let (account, container) = url
        .strip_prefix("https://")
        .and_then(|r| r.split_once('/'))
        .map(|(host, c)| (host.split('.').next().unwrap_or(host), c))
        .unwrap_or(("", ""));
    let book = o.book.clone().unwrap_or_default();
    let scenarios = o.scenarios.clone().unwrap_or_default();
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
#                                missing, create the job, add its tasks, then set terminatejob
#   ./run.sh status              task counts; failed tasks with exit codes and stderr.txt links
#   ./run.sh wait                status every $RISKPOOL_POLL_SECONDS (30) until the job completes
#   ./run.sh download [OUT.csv]  fetch {job}/results.csv, check one row per trade, keep it as OUT.csv
#                                (default: results.csv beside this script)
#   ./run.sh all [BOOK.csv]      submit, wait, download
# Risk jobs (--kind risk): submit [BOOK.jsonl [SCENARIOS.csv]] uploads both; download [DIR] fetches
# {job}/pnl.csv, pnl.csv.summary.json, by-trade.csv and risk.html into DIR (default: beside this script).
# Credentials: az login and az batch account login (or AZURE_BATCH_ACCOUNT, AZURE_BATCH_ENDPOINT,
# AZURE_BATCH_ACCESS_KEY); storage by --auth-mode login, or AZURE_STORAGE_CONNECTION_STRING.
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
TRADES={trades}
PARTS={parts}
COLLECTIONS={collections}
POOL_ACCOUNT_ID={qpool_account}
POOL_BODY={qpool_body}
ARM=${{RISKPOOL_ARM_ENDPOINT:-https://management.azure.com}}
API={api}

say() {{ echo "run.sh: $*" >&2; }}
die() {{ say "$1"; exit "${{2:-1}}"; }}
command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not on PATH" 2

storage() {{
  if [ -n "${{AZURE_STORAGE_CONNECTION_STRING:-}}" ]; then
    az storage "$@" --connection-string="$AZURE_STORAGE_CONNECTION_STRING" --only-show-errors
  else
    az storage "$@" --account-name="$STORAGE_ACCOUNT" --auth-mode login --only-show-errors
  fi
}}

# Trades in an azfinsim file: its non-empty lines less the header.
rows() {{ echo $(( $(grep -c . "$1") - 1 )); }}

submit() {{
  if [ -n "$BOOK_BLOB" ]; then
    book=${{1:-}}
    if [ -n "$book" ]; then
      book=$(abs "$book")
      [ -f "$book" ] || die "$book: no such file" 2
      if [ "$KIND" = price ]; then
        n=$(rows "$book")
        [ "$n" -eq "$TRADES" ] || die "$book holds $n trades; this job was made for $TRADES (--trades)" 2
      fi
      say "uploading $book to $CONTAINER/$BOOK_BLOB"
      storage blob upload --container-name="$CONTAINER" --name="$BOOK_BLOB" --file="$book" --overwrite --no-progress >/dev/null
    else
      say "no book file given: the job reads $CONTAINER/$BOOK_BLOB as it is"
    fi
  fi
  if [ -n "$SCENARIOS_BLOB" ]; then
    scen=${{2:-}}
    if [ -n "$scen" ]; then
      scen=$(abs "$scen")
      [ -f "$scen" ] || die "$scen: no such file" 2
      say "uploading $scen to $CONTAINER/$SCENARIOS_BLOB"
      storage blob upload --container-name="$CONTAINER" --name="$SCENARIOS_BLOB" --file="$scen" --overwrite --no-progress >/dev/null
    else
      say "no scenario file given: the job reads $CONTAINER/$SCENARIOS_BLOB as it is"
    fi
  fi
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
    az batch task create --job-id="$JOB" --json-file="$f" --only-show-errors >/dev/null
    i=$((i + 1))
  done
  say "added the tasks ($COLLECTIONS collections); the job ends when they are done"
  az batch job set --job-id="$JOB" --on-all-tasks-complete terminatejob --only-show-errors >/dev/null
}}

status() {{
  az batch task list --job-id="$JOB" --only-show-errors \
    --query "[].[id, state, executionInfo.result || '-', executionInfo.exitCode || '-']" --output tsv |
  awk -v url="$STORAGE_URL" -v job="$JOB" -F '\t' '
    {{ n[$2]++; if ($3 == "failure") {{ failed++; f[failed] = $1 "\t exit " $4 "\t" url "/" job "/logs/" $1 "/stderr.txt" }} }}
    END {{
      printf "tasks: %d active, %d running, %d completed (%d failed)\n", n["active"] + n["preparing"], n["running"], n["completed"], failed
      for (i = 1; i <= failed; i++) print "  failed: " f[i]
    }}'
}}

wait_job() {{
  while :; do
    state=$(az batch job show --job-id="$JOB" --query state --output tsv --only-show-errors)
    status
    [ "$state" = completed ] && return 0
    sleep "${{RISKPOOL_POLL_SECONDS:-30}}"
  done
}}

download_risk() {{
  dir=.
  [ -z "${{1:-}}" ] || dir=$(abs "$1")
  [ -d "$dir" ] || die "$dir: no such folder" 2
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
  submit) submit "${{2:-}}" "${{3:-}}" ;;
  status) status ;;
  wait) wait_job ;;
  download) download "${{2:-}}" ;;
  all) submit "${{2:-}}" "${{3:-}}"; wait_job; download ;;
  *) die "usage: run.sh submit [BOOK.csv] | status | wait | download [OUT.csv] | all [BOOK.csv]" 2 ;;
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
        qpool_account = sh_quote(pool_account),
        qpool_body = sh_quote(pool_body),
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
