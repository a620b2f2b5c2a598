// SPDX-License-Identifier: GPL-2.0
//! Registering Rust KUnit suites on Linux 6.12, which has no `#[kunit_tests]`: a module's
//! `.kunit_test_suites` section holds pointers to `struct kunit_suite`, and the KUnit core runs
//! them when the module is loaded.

/// Fail the current KUnit case (and stop it) unless `cond` holds.
macro_rules! check {
    ($cond:expr) => {
        kernel::kunit_assert!("drbd_rs_kunit", "tests-kunit", 0, $cond)
    };
}

/// Fail the current KUnit case unless both sides are equal.
macro_rules! check_eq {
    ($left:expr, $right:expr) => {
        kernel::kunit_assert_eq!("drbd_rs_kunit", "tests-kunit", 0, $left, $right)
    };
}

/// Mark the current KUnit case as skipped, with `reason`, and return from it.
macro_rules! skip {
    ($reason:literal) => {{
        // SAFETY: FFI call without safety requirements.
        let test = unsafe { kernel::bindings::kunit_get_current_test() };
        if !test.is_null() {
            let reason = concat!($reason, "\0").as_bytes();
            // SAFETY: `test` is the running case's `struct kunit`, alive until the case
            // returns; as C's kunit_mark_skipped(), only the case's own thread writes these
            // fields while it runs, and KUnit reads them after it.
            unsafe {
                (*test).status = kernel::bindings::kunit_status_KUNIT_SKIPPED;
                let comment = &mut (*test).status_comment;
                for (dst, src) in comment.iter_mut().zip(reason) {
                    *dst = *src as _;
                }
                if let Some(last) = comment.last_mut() {
                    *last = 0;
                }
            }
        }
        return;
    }};
}

/// `kunit_suite!(STATIC_NAME, "suite_name", [fn_a, fn_b])` defines a suite whose cases call
/// the given plain `fn()`s.
macro_rules! kunit_suite {
    ($suite:ident, $name:literal, [$($case:ident),+ $(,)?]) => {
        pub(crate) static mut $suite: kernel::bindings::kunit_suite = {
            static mut CASES: [kernel::bindings::kunit_case; [$(stringify!($case)),+].len() + 1] = [
                $({
                    unsafe extern "C" fn run(_test: *mut kernel::bindings::kunit) {
                        $case()
                    }
                    kernel::bindings::kunit_case {
                        run_case: Some(run),
                        name: concat!(stringify!($case), "\0").as_ptr().cast(),
                        // SAFETY: the remaining fields are plain data or nullable pointers for
                        // which all-zero means "unset", as in C's designated initializers.
                        ..unsafe { core::mem::zeroed() }
                    }
                },)+
                // SAFETY: the all-zero case terminates the list.
                unsafe { core::mem::zeroed() },
            ];
            // SAFETY: as above, zero means "unset" for every field not named here.
            let mut suite: kernel::bindings::kunit_suite = unsafe { core::mem::zeroed() };
            let name = $name.as_bytes();
            let mut i = 0;
            while i < name.len() && i < suite.name.len() - 1 {
                suite.name[i] = name[i] as _;
                i += 1;
            }
            // Only the address is taken; KUnit is the only user of the cases.
            suite.test_cases = core::ptr::addr_of_mut!(CASES).cast();
            suite
        };
    };
}

/// Put the given suites into this module's `.kunit_test_suites` section.
macro_rules! kunit_suites {
    ($($suite:path),+ $(,)?) => {
        #[repr(transparent)]
        struct SuitePtr(*mut kernel::bindings::kunit_suite);
        // SAFETY: the pointers are only read by the KUnit core, while it runs the suites.
        unsafe impl Sync for SuitePtr {}

        #[used]
        #[link_section = ".kunit_test_suites"]
        static KUNIT_SUITES: [SuitePtr; [$(stringify!($suite)),+].len()] = [
            // Only the addresses are taken; KUnit owns the suites while running them.
            $(SuitePtr(core::ptr::addr_of_mut!($suite))),+
        ];
    };
}
