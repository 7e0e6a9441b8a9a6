//! Stopping a long call between two passes. A caller that has no other way to stop the
//! library mid-call (Python, which sees Ctrl-C only when it is asked) sets a hook for the calls
//! it makes on its thread ([`asking`]); the library's pass loops (encode, decode, the test loss,
//! the importance samples, the metrics' classifier) ask it between passes ([`check`]) and end
//! with [`Error::Interrupted`] when it says stop. Training asks its `Progress` instead, between
//! steps.

use crate::error::{Error, Result};
use std::cell::RefCell;

type Hook = Box<dyn FnMut() -> bool>;

thread_local! {
    /// The hook of the call running on this thread; the shards of a pass run on other threads
    /// and never ask.
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Runs `f` with `stop` asked between the library's passes on this thread: once it returns
/// true, the pass loop that asked ends the call with [`Error::Interrupted`]. The hook that was
/// set before is set again afterwards, even when `f` panics.
pub fn asking<T>(stop: impl FnMut() -> bool + 'static, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Hook>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            HOOK.with(|hook| *hook.borrow_mut() = previous);
        }
    }
    let _restore = Restore(HOOK.with(|hook| hook.borrow_mut().replace(Box::new(stop))));
    f()
}

/// Asks this thread's hook, if there is one, whether to stop: [`Error::Interrupted`] if so.
/// Called between passes, never inside one.
pub fn check() -> Result<()> {
    // Taken out while it runs: the hook may run code (a Python signal handler) that calls the
    // library again on this thread.
    let Some(mut stop) = HOOK.with(|hook| hook.borrow_mut().take()) else {
        return Ok(());
    };
    let stopped = stop();
    HOOK.with(|hook| *hook.borrow_mut() = Some(stop));
    if stopped {
        return Err(Error::Interrupted(
            "interrupted: the call was asked to stop between two passes".into(),
        ));
    }
    Ok(())
}
