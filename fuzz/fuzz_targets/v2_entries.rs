#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jsbackup_fuzz::entries::v2_entries(data);
});
