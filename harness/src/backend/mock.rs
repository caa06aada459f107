//! A backend for tests: no I/O. Every operation returns the fold a correct read of the
//! block would return (`page::expected_fold`), so the runner's verification passes
//! without reading a file, after a busy-wait of the configured latency. Errors, wrong
//! bytes, slow operations, a skip or a failure at open come on demand
//! (`spec::backend::MockOptions`), so the runner's warm-up switch, quotas, sampler and
//! error paths can be tested fast and without a device. hyperfine's mock executor
//! plays the same part.

use super::{Backend, OpError, OpenCtx, OpenError, Worker};
use crate::datafile::page;
use crate::driver::Driver;
use crate::spec::backend::MockOptions;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub struct Mock {
    opts: MockOptions,
    block: u64,
    verify_tag: Option<u64>,
}

impl Mock {
    pub fn open(ctx: &OpenCtx, o: &MockOptions) -> Result<Mock, OpenError> {
        if let Some(r) = &o.skip {
            return Err(OpenError::Unavailable(r.clone()));
        }
        if let Some(r) = &o.fail_open {
            return Err(OpenError::Failed(r.clone()));
        }
        Ok(Mock {
            opts: o.clone(),
            block: ctx.workload.block,
            verify_tag: ctx.target.verify_tag,
        })
    }
}

impl Backend for Mock {
    fn worker(&self, _index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        Ok(Box::new(MockWorker {
            opts: &self.opts,
            block: self.block,
            verify_tag: self.verify_tag,
            done: 0,
        }))
    }

    fn notes(&self) -> Vec<String> {
        vec!["mock backend: no I/O was done (a test backend)".into()]
    }

    fn queue_depth(&self) -> u32 {
        self.opts.qd.max(1)
    }
}

struct MockWorker<'a> {
    opts: &'a MockOptions,
    block: u64,
    verify_tag: Option<u64>,
    /// Operations this worker has done, warm-up included.
    done: u64,
}

/// Spin (no sleep: a sleep's wake-up latency would swamp short latencies) for `ns`.
fn busy_wait(ns: u64) {
    if ns == 0 {
        return;
    }
    let until = Instant::now() + Duration::from_nanos(ns);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

impl Worker for MockWorker<'_> {
    fn read(&mut self, offset: u64) -> Result<u64, OpError> {
        self.done += 1;
        let n = self.done;
        let o = self.opts;
        let stalled = o.stall_every.is_some_and(|k| n.is_multiple_of(k));
        busy_wait(o.latency_ns + if stalled { o.stall_ns } else { 0 });
        if o.fail_at == Some(n) {
            return Err(OpError(format!(
                "mock: injected error at operation {n} (offset {offset})"
            )));
        }
        let fold = match self.verify_tag {
            Some(tag) => page::expected_fold(offset, self.block, tag),
            None => 0,
        };
        Ok(if o.corrupt_at == Some(n) { !fold } else { fold })
    }

    /// With qd > 1: keep up to qd operations "in flight" and complete them in order, the
    /// way an asynchronous backend drives `Driver::should_issue`; latency is measured
    /// from issue to completion.
    fn run(&mut self, drv: &mut Driver) -> Result<(), OpError> {
        let qd = self.opts.qd.max(1) as usize;
        if qd == 1 {
            return drv.run_sync(self);
        }
        let mut in_flight: VecDeque<(u64, u64)> = VecDeque::with_capacity(qd);
        loop {
            while in_flight.len() < qd && drv.should_issue(in_flight.len() as u64) {
                in_flight.push_back((drv.next_offset(), drv.clock().raw()));
            }
            let Some((off, issued)) = in_flight.pop_front() else {
                return Ok(());
            };
            let fold = self.read(off)?;
            let ns = drv.clock().nanos(issued, drv.clock().raw());
            drv.complete(off, fold, ns);
        }
    }
}
