# Used by the harness to probe whether a VM boots with an accelerator: does nothing.
true
