//! What Linux tells about a process in `/proc/PID/stat` and `/proc/PID/status`.

use anyhow::{anyhow, Context, Result};

/// One reading of a process's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// User CPU time, in clock ticks.
    pub utime_ticks: u64,
    /// System CPU time, in clock ticks.
    pub stime_ticks: u64,
    /// Voluntary context switches.
    pub voluntary_ctxt: u64,
    /// Involuntary context switches.
    pub nonvoluntary_ctxt: u64,
    /// Peak resident set size (VmHWM), in kB.
    pub hwm_kb: u64,
    /// Current resident set size (VmRSS), in kB.
    pub rss_kb: u64,
    /// Of which anonymous memory (RssAnon: the heap and stacks), in kB; the rest is
    /// file-backed (RssFile: the binary, and a memory-mapped database) or shared memory.
    pub rss_anon_kb: u64,
    /// Bytes the process caused to be sent to storage (`write_bytes` of `/proc/PID/io`:
    /// counted when a written page is dirtied, so a database's WAL appends and
    /// checkpoints, not its socket writes); zero when that file cannot be read.
    pub storage_write_bytes: u64,
    /// Each thread's id, name and CPU time (user plus system, clock ticks).
    pub threads: Vec<(u64, String, u64)>,
}

impl ProcSample {
    /// Reads `/proc/{pid}/stat` (CPU time of the whole process), `/proc/{pid}/status`
    /// (memory) and `/proc/{pid}/task/*/status` (context switches: the process's own
    /// status counts only its main thread, so the threads' counts are added up; a thread
    /// that exits between two readings takes its count with it). `pid` may be `self`.
    pub fn read(pid: &str) -> Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("reading /proc/{pid}/stat"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let (utime_ticks, stime_ticks) = parse_stat(&stat)?;
        let mut sample = parse_status(&status)?;
        sample.utime_ticks = utime_ticks;
        sample.stime_ticks = stime_ticks;
        if let Ok(io) = std::fs::read_to_string(format!("/proc/{pid}/io")) {
            sample.storage_write_bytes = parse_io_write_bytes(&io).unwrap_or_default();
        }
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            let (mut voluntary, mut nonvoluntary) = (0, 0);
            for task in tasks.flatten() {
                // A thread may exit while we look: skip what cannot be read.
                let Ok(text) = std::fs::read_to_string(task.path().join("status")) else {
                    continue;
                };
                let (v, n) = parse_ctxt(&text);
                voluntary += v;
                nonvoluntary += n;
                let tid = task.file_name().to_string_lossy().parse().unwrap_or(0);
                if let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) {
                    if let (Ok((u, s)), Some(name)) = (parse_stat(&stat), parse_comm(&stat)) {
                        sample.threads.push((tid, name, u + s));
                    }
                }
            }
            sample.voluntary_ctxt = voluntary;
            sample.nonvoluntary_ctxt = nonvoluntary;
        }
        Ok(sample)
    }

    /// User plus system CPU time, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        self.utime_ticks + self.stime_ticks
    }

    /// Voluntary plus involuntary context switches.
    pub fn ctxt(&self) -> u64 {
        self.voluntary_ctxt + self.nonvoluntary_ctxt
    }
}

/// `(utime, stime)` from the text of `/proc/PID/stat`: fields 14 and 15 (proc(5)). The
/// command name (field 2) is in parentheses and may itself hold spaces and parentheses,
/// so the fields are counted from the last `)`.
pub fn parse_stat(stat: &str) -> Result<(u64, u64)> {
    let close = stat
        .rfind(')')
        .ok_or_else(|| anyhow!("/proc/PID/stat: no ')' after the command name"))?;
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state), so field n is rest[n - 3].
    let field = |n: usize| -> Result<u64> {
        rest.get(n - 3)
            .ok_or_else(|| anyhow!("/proc/PID/stat: field {n} missing"))?
            .parse::<u64>()
            .with_context(|| format!("/proc/PID/stat: field {n} is not a number"))
    };
    Ok((field(14)?, field(15)?))
}

/// The command (thread) name of a `/proc/PID/stat` text: between the first `(` and the
/// last `)`.
pub fn parse_comm(stat: &str) -> Option<String> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    (open < close).then(|| stat[open + 1..close].to_string())
}

/// `write_bytes` of a `/proc/PID/io` text.
pub fn parse_io_write_bytes(io: &str) -> Option<u64> {
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The thread that used the most CPU time between two readings: its name and its CPU
/// time in clock ticks. A thread is matched by its id, so one that started between the
/// readings counts from zero.
pub fn busiest_thread(before: &ProcSample, after: &ProcSample) -> Option<(String, u64)> {
    after
        .threads
        .iter()
        .map(|(tid, name, ticks)| {
            let was = before
                .threads
                .iter()
                .find(|(t, _, _)| t == tid)
                .map_or(0, |(_, _, t)| *t);
            (name.clone(), ticks.saturating_sub(was))
        })
        .max_by_key(|(_, ticks)| *ticks)
}

/// Context switches and memory from the text of `/proc/PID/status` (CPU fields zero).
pub fn parse_status(status: &str) -> Result<ProcSample> {
    let mut sample = ProcSample::default();
    let mut seen = 0;
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key.trim() {
            "voluntary_ctxt_switches" => &mut sample.voluntary_ctxt,
            "nonvoluntary_ctxt_switches" => &mut sample.nonvoluntary_ctxt,
            "VmHWM" => &mut sample.hwm_kb,
            "VmRSS" => &mut sample.rss_kb,
            "RssAnon" => {
                // Optional (Linux 4.5 and later): not among the four required.
                let kb = value.split_whitespace().next().and_then(|v| v.parse().ok());
                sample.rss_anon_kb = kb.unwrap_or_default();
                continue;
            }
            _ => continue,
        };
        let number = value
            .split_whitespace()
            .next()
            .ok_or_else(|| anyhow!("/proc/PID/status: {} has no value", key.trim()))?;
        *slot = number
            .parse()
            .with_context(|| format!("/proc/PID/status: {} is not a number", key.trim()))?;
        seen += 1;
    }
    if seen < 4 {
        return Err(anyhow!(
            "/proc/PID/status: expected voluntary_ctxt_switches, nonvoluntary_ctxt_switches, VmHWM and VmRSS"
        ));
    }
    Ok(sample)
}

/// The whole machine's CPU time from `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineCpu {
    /// Ticks spent on anything but idle and I/O wait, all CPUs together.
    pub busy: u64,
    /// All ticks, all CPUs together.
    pub total: u64,
}

impl MachineCpu {
    /// Reads `/proc/stat`.
    pub fn read() -> Result<Self> {
        let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        parse_machine_cpu(&text)
    }
}

/// The first (`cpu `) line of `/proc/stat`: user nice system idle iowait irq softirq
/// steal guest guest_nice. Guest time is already counted in user and nice.
pub fn parse_machine_cpu(stat: &str) -> Result<MachineCpu> {
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| anyhow!("/proc/stat: no 'cpu ' line"))?;
    let fields = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse::<u64>())
        .collect::<Result<Vec<u64>, _>>()
        .context("/proc/stat: a cpu field is not a number")?;
    if fields.len() < 5 {
        return Err(anyhow!("/proc/stat: too few cpu fields"));
    }
    let total: u64 = fields.iter().sum();
    let idle = fields[3] + fields[4];
    Ok(MachineCpu {
        busy: total - idle,
        total,
    })
}

/// `(voluntary, nonvoluntary)` context switches from a status text; zero when absent.
pub fn parse_ctxt(status: &str) -> (u64, u64) {
    let mut out = (0, 0);
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().parse().unwrap_or(0);
        match key.trim() {
            "voluntary_ctxt_switches" => out.0 = value,
            "nonvoluntary_ctxt_switches" => out.1 = value,
            _ => {}
        }
    }
    out
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 when that cannot be run.
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "12345 (textid (a) b) S 1 12345 12345 0 -1 4194560 8934 0 0 0 \
                        1530 274 0 0 20 0 5 0 98765 123456789 4321 18446744073709551615 \
                        1 1 0 0 0 0 0 4096 17987 0 0 0 17 1 0 0 0 0 0";

    const STATUS: &str = "Name:\ttextid\nUmask:\t0022\nState:\tS (sleeping)\n\
        VmPeak:\t 1234567 kB\nVmSize:\t 1200000 kB\nVmHWM:\t   48212 kB\nVmRSS:\t   40100 kB\n\
        RssAnon:\t   31000 kB\nRssFile:\t    9100 kB\nRssShmem:\t       0 kB\n\
        Threads:\t5\nvoluntary_ctxt_switches:\t15321\nnonvoluntary_ctxt_switches:\t842\n";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        assert_eq!(parse_stat(STAT).unwrap(), (1530, 274));
        assert!(parse_stat("12345 textid S 1").is_err());
        assert!(parse_stat("12345 (textid) S 1 2 3").is_err());
    }

    #[test]
    fn status_gives_context_switches_and_memory() {
        let s = parse_status(STATUS).unwrap();
        assert_eq!(s.voluntary_ctxt, 15321);
        assert_eq!(s.nonvoluntary_ctxt, 842);
        assert_eq!(s.ctxt(), 16163);
        assert_eq!(s.hwm_kb, 48212);
        assert_eq!(s.rss_kb, 40100);
        assert_eq!(s.rss_anon_kb, 31000);
        assert!(parse_status("Name:\tx\nVmRSS:\t1 kB\n").is_err());
        assert_eq!(parse_ctxt(STATUS), (15321, 842));
        assert_eq!(parse_ctxt("Name:\tx\n"), (0, 0));
    }

    #[test]
    fn thread_names_storage_writes_and_the_busiest_thread() {
        assert_eq!(parse_comm(STAT).as_deref(), Some("textid (a) b"));
        assert_eq!(parse_comm("12 textid S"), None);
        let io = "rchar: 10\nwchar: 900\nsyscr: 1\nsyscw: 2\nread_bytes: 0\nwrite_bytes: 4096\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_io_write_bytes(io), Some(4096));
        assert_eq!(parse_io_write_bytes("rchar: 10\n"), None);
        let at = |threads: &[(u64, &str, u64)]| ProcSample {
            threads: threads
                .iter()
                .map(|(t, n, k)| (*t, (*n).to_string(), *k))
                .collect(),
            ..ProcSample::default()
        };
        let before = at(&[(1, "main", 500), (2, "writer", 100)]);
        // The main thread has the most time in all, the writer the most in between; a
        // thread new since the first reading counts from zero.
        let after = at(&[(1, "main", 550), (2, "writer", 300), (3, "new", 120)]);
        assert_eq!(
            busiest_thread(&before, &after),
            Some(("writer".into(), 200))
        );
        assert_eq!(busiest_thread(&before, &at(&[])), None);
    }

    #[test]
    fn machine_cpu_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1 2 3\n";
        assert_eq!(
            parse_machine_cpu(stat).unwrap(),
            MachineCpu {
                busy: 161,
                total: 1181
            }
        );
        assert!(parse_machine_cpu("intr 1 2 3\n").is_err());
        assert!(parse_machine_cpu("cpu  1 2 x 4 5\n").is_err());
        let now = MachineCpu::read().unwrap();
        assert!(now.total >= now.busy);
    }

    #[test]
    fn reads_its_own_process() {
        let s = ProcSample::read("self").unwrap();
        assert!(s.rss_kb > 0 && s.hwm_kb >= s.rss_kb);
        assert!(
            s.ctxt() > 0,
            "the test threads have been switched at least once"
        );
        assert!(clock_ticks() > 0);
    }
}
