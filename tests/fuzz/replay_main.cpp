// Runs a libFuzzer target without libFuzzer: every file in a corpus directory, then a bounded
// number of deterministic random mutations of those seeds (byte flips, truncations, splices).
// usage: fuzz_replay_<name> <corpus-dir> <mutations>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s <corpus-dir> [mutations]\n", argv[0]);
        return 2;
    }
    const long mutations = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 10000;
    std::vector<std::vector<std::uint8_t>> seeds;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(argv[1], ec)) {
        if (!entry.is_regular_file()) continue;
        std::ifstream in(entry.path(), std::ios::binary);
        seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    if (seeds.empty()) seeds.push_back({});
    for (const auto& s : seeds)
        LLVMFuzzerTestOneInput(s.data(), s.size());

    std::mt19937_64 rng(0x5eed);
    for (long i = 0; i < mutations; ++i) {
        std::vector<std::uint8_t> data = seeds[rng() % seeds.size()];
        const int edits = 1 + static_cast<int>(rng() % 8);
        for (int e = 0; e < edits; ++e) {
            switch (rng() % 5) {
                case 0:  // flip a byte
                    if (!data.empty()) data[rng() % data.size()] = static_cast<std::uint8_t>(rng());
                    break;
                case 1:  // truncate
                    if (!data.empty()) data.resize(rng() % data.size());
                    break;
                case 2:  // insert a byte
                    data.insert(data.begin() + static_cast<long>(rng() % (data.size() + 1)),
                                static_cast<std::uint8_t>(rng()));
                    break;
                case 3: {  // splice another seed's tail
                    const auto& other = seeds[rng() % seeds.size()];
                    if (!other.empty()) {
                        std::size_t from = rng() % other.size();
                        data.insert(data.end(), other.begin() + static_cast<long>(from),
                                    other.end());
                    }
                    break;
                }
                default:  // boundary values
                    if (!data.empty()) {
                        static const std::uint8_t edges[] = {0x00, 0x7F, 0x80, 0xFF, 0xC0, 0xED};
                        data[rng() % data.size()] = edges[rng() % sizeof edges];
                    }
            }
        }
        LLVMFuzzerTestOneInput(data.data(), data.size());
    }
    std::printf("replayed %zu seeds and %ld mutations\n", seeds.size(), mutations);
    return 0;
}
