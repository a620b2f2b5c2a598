// SPDX-License-Identifier: GPL-2.0
//! Facts about this loaded module.

use kernel::str::CStr;
use kernel::ThisModule;

/// The srcversion modpost computed for this module, if any.
pub(crate) fn srcversion(module: &'static ThisModule) -> Option<&'static str> {
    // SAFETY: `module` is THIS_MODULE, valid while the module is loaded (`'static` from the
    // module's point of view); `srcversion` is null or a NUL-terminated string in the
    // module's own memory, never changed after load.
    let ptr = unsafe { (*module.as_ptr()).srcversion };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated, as above.
    let text = unsafe { CStr::from_char_ptr(ptr) };
    text.to_str().ok()
}
