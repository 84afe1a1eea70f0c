// The header compiles as C++17 and its types are usable from C++.
#include <sandbox.h>

#include <cstdio>

int main() {
    static_assert(SBX_ABI_VERSION >= 1, "ABI version is a positive constant");
    sbx_status s = SBX_STATUS_OK;
    sbx_error *err = nullptr;
    if (sbx_abi_version() != SBX_ABI_VERSION) return 1;
    s = sbx_test_trigger_panic(&err);
    if (s != SBX_STATUS_PANIC || sbx_error_code(err) != SBX_STATUS_PANIC) return 1;
    std::printf("header_cxx: %s from C++: ok\n", sbx_status_name(static_cast<uint32_t>(s)));
    sbx_error_free(err);
    return 0;
}
