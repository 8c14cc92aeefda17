// The memory engine (the oracle of the differential tests) against the conformance suite.
#include <memory>

#include "store_conformance.hpp"

namespace rmqtt::storage::test {

struct memory_trait {
    static constexpr bool persistent = false;
    std::unique_ptr<store> open() { return make_memory_store(); }
    // Nothing to reopen: the same instance keeps its data.
    std::unique_ptr<store> reopen(std::unique_ptr<store> current) { return current; }
};

INSTANTIATE_TYPED_TEST_SUITE_P(storage_memory, store_conformance, ::testing::Types<memory_trait>);

}  // namespace rmqtt::storage::test
