//! The parts of one batch computed at once (CPU shards, MPI processes), which meet at each
//! batch norm to sum their statistics: SyncBatchNorm's exchange.
//!
//! A caller that splits a batch over threads runs each part with [`Parts::run_as`]; inside it,
//! [`sum_over_batch`] waits for every other part of the batch and returns the sum of what all
//! brought, the same bits in every part. A run over several processes registers the sum over
//! them once ([`sum_over_processes_with`]); every meeting then adds the other processes' sums.
//!
//! A meeting never waits for a part that cannot come: one that panicked, or one that returned
//! without coming (it skipped a batch norm the others reached, a bug), fails the meeting, and
//! the parts waiting there panic instead of hanging the pass.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// The parts of one batch being computed at once, which meet at each [`sum_over_batch`].
pub struct Parts {
    size: usize,
    state: Mutex<Meeting>,
    all_arrived: Condvar,
}

/// One meeting of the parts: the values brought so far, then the sum everyone takes away.
#[derive(Default)]
struct Meeting {
    round: u64,
    brought: Vec<Option<Vec<f32>>>,
    arrived: usize,
    /// Parts whose work has returned: they will come to no more meetings.
    left: usize,
    sum: Arc<Vec<f32>>,
    failure: Option<Failure>,
}

/// Why a meeting cannot take place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// A part panicked: its own panic says why.
    Panicked,
    /// A part returned without coming to a meeting the others came to.
    Skipped,
    /// The parts brought sums of different lengths.
    Lengths(usize, usize),
}

/// The panic of a part that stopped because another part of its batch panicked: raised with
/// `resume_unwind`, which skips the panic hook, so only the first failure is printed.
struct OtherPartPanicked;

/// True for the panic of a part that stopped only because another part of its batch panicked
/// (that part's panic is the one to report).
pub fn stopped_for_another_part(payload: &(dyn Any + Send)) -> bool {
    payload.is::<OtherPartPanicked>()
}

impl Parts {
    /// The meeting place of `size` parts.
    pub fn new(size: usize) -> Arc<Self> {
        Arc::new(Parts {
            size,
            state: Mutex::new(Meeting {
                brought: vec![None; size],
                ..Meeting::default()
            }),
            all_arrived: Condvar::new(),
        })
    }

    /// Runs `work` as part `index` of the batch on this thread: its [`sum_over_batch`] calls
    /// meet the other parts. When `work` returns or panics, the part leaves, and no meeting
    /// waits for it again.
    pub fn run_as<T>(self: &Arc<Self>, index: usize, work: impl FnOnce() -> T) -> T {
        assert!(
            index < self.size,
            "part {index} of a batch of {} parts",
            self.size
        );
        let outer = MEMBER.with(|m| m.borrow_mut().replace((self.clone(), index)));
        let out = catch_unwind(AssertUnwindSafe(work));
        MEMBER.with(|m| *m.borrow_mut() = outer);
        match out {
            Ok(value) => {
                self.leave();
                value
            }
            Err(payload) => {
                self.fail(Failure::Panicked);
                resume_unwind(payload)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Meeting> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A part's work returned: if the others wait in a meeting it never came to, that meeting
    /// fails.
    fn leave(&self) {
        let mut meeting = self.lock();
        meeting.left += 1;
        if meeting.arrived > 0 && meeting.arrived + meeting.left == self.size {
            meeting.failure.get_or_insert(Failure::Skipped);
            self.all_arrived.notify_all();
        }
    }

    /// The parts waiting stop waiting, and no meeting takes place again.
    fn fail(&self, failure: Failure) {
        self.lock().failure.get_or_insert(failure);
        self.all_arrived.notify_all();
    }

    /// Waits for every part's `values`, sums them in part order (the same bits for all), over
    /// the processes too, and gives each part the sum.
    fn sum(&self, member: usize, values: Vec<f32>) -> Vec<f32> {
        let mut meeting = self.lock();
        if let Some(failure) = meeting.failure {
            drop(meeting);
            stop(failure);
        }
        let round = meeting.round;
        meeting.brought[member] = Some(values);
        meeting.arrived += 1;
        if meeting.arrived + meeting.left == self.size {
            if meeting.left > 0 {
                meeting.failure = Some(Failure::Skipped);
                self.all_arrived.notify_all();
                drop(meeting);
                stop(Failure::Skipped);
            }
            let parts: Vec<Vec<f32>> = meeting.brought.iter_mut().flat_map(Option::take).collect();
            let len = parts[0].len();
            if let Some(other) = parts.iter().map(Vec::len).find(|&l| l != len) {
                let failure = Failure::Lengths(len, other);
                meeting.failure = Some(failure);
                self.all_arrived.notify_all();
                drop(meeting);
                stop(failure);
            }
            let mut parts = parts.into_iter();
            let mut sum = parts.next().unwrap_or_default();
            for part in parts {
                sum.iter_mut().zip(part).for_each(|(s, v)| *s += v);
            }
            sum_over_processes(&mut sum);
            meeting.sum = Arc::new(sum);
            meeting.arrived = 0;
            meeting.round += 1;
            self.all_arrived.notify_all();
        } else {
            while meeting.round == round && meeting.failure.is_none() {
                meeting = self
                    .all_arrived
                    .wait(meeting)
                    .unwrap_or_else(|e| e.into_inner());
            }
            if meeting.round == round {
                let failure = meeting.failure.unwrap_or(Failure::Panicked);
                drop(meeting);
                stop(failure);
            }
        }
        meeting.sum.as_ref().clone()
    }
}

/// Ends a part that cannot meet the others: quietly when another part panicked (its panic is
/// reported), with the reason otherwise.
fn stop(failure: Failure) -> ! {
    match failure {
        Failure::Panicked => resume_unwind(Box::new(OtherPartPanicked)),
        Failure::Skipped => panic!(
            "the parts of a batch met a different number of times: a part finished without \
             reaching a batch-norm meeting that the others reached"
        ),
        Failure::Lengths(a, b) => panic!(
            "the parts of a batch brought sums of different lengths to a batch-norm meeting \
             ({a} and {b} values)"
        ),
    }
}

thread_local! {
    /// The parts this thread's part of a batch belongs to, and its place among them.
    static MEMBER: RefCell<Option<(Arc<Parts>, usize)>> = const { RefCell::new(None) };
}

/// The sum over the processes of a run with more than one, registered by the layer that starts
/// them.
static PROCESSES: OnceLock<fn(&mut [f32])> = OnceLock::new();

/// Registers `sum`, which adds up a vector over every process of the run, in place: from then
/// on every batch is split, and every meeting sums over the processes too. Once per process;
/// later calls are ignored.
pub fn sum_over_processes_with(sum: fn(&mut [f32])) {
    let _ = PROCESSES.set(sum);
}

fn sum_over_processes(values: &mut [f32]) {
    if let Some(sum) = PROCESSES.get() {
        sum(values);
    }
}

/// True when this thread computes only part of a batch: inside [`Parts::run_as`], or in any
/// pass of a run over several processes.
pub fn batch_is_split() -> bool {
    MEMBER.with(|m| m.borrow().is_some()) || PROCESSES.get().is_some()
}

/// True in the first part of a batch, and outside [`Parts::run_as`]: the part that records
/// what every part computed alike (batch norm's running statistics), once.
pub fn is_first_part() -> bool {
    MEMBER.with(|m| m.borrow().as_ref().is_none_or(|(_, index)| *index == 0))
}

/// `values` summed over every part of the batch this thread computes: the other parts of its
/// [`Parts`] and the other processes. Outside both it returns `values`. Every part must call
/// it the same number of times, with vectors of the same length; a part that does not ends the
/// meeting with a panic in every part, never a wait.
pub fn sum_over_batch(mut values: Vec<f32>) -> Vec<f32> {
    let member = MEMBER.with(|m| m.borrow().clone());
    match member {
        Some((parts, index)) => parts.sum(index, values),
        None => {
            sum_over_processes(&mut values);
            values
        }
    }
}
