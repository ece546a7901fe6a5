#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jsbackup_fuzz::entries::s2_frames(data);
});
