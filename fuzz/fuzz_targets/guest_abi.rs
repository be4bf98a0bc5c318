//! The WebAssembly call ABI (`mltrain_workflow::guest`, docs/wasm.md): a call as a module
//! reads it from stdin, and a reply as the host reads it from a module's stdout. Either may
//! come from a hostile module or host: decoding refuses, never panics or allocates what a
//! count merely claims, and what decodes encodes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mltrain_workflow::guest::{Call, Reply};

fuzz_target!(|data: &[u8]| {
    let data = bytes::Bytes::copy_from_slice(data);
    if let Ok(call) = Call::decode(&data) {
        assert_eq!(call.encode(), data, "a call re-encodes to its bytes");
    }
    if let Ok(reply) = Reply::decode(&data) {
        let again = Reply::decode(&reply.encode().into()).expect("an encoded reply decodes");
        assert_eq!(again, reply);
    }
});
