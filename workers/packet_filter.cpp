#include "workers/packet_filter.hpp"

#include <cstring>
#include <iterator>

#include "workers/config_error.hpp"

namespace pushcap::workers {
namespace {

// Classic BPF opcodes, spelled out as the whole code byte: libpcap's interpreter matches whole
// codes, so a code with any other bit set is one this decoder must not take either.
enum : std::uint16_t {
    C_LD_W_ABS = BPF_LD | BPF_W | BPF_ABS,
    C_LD_H_ABS = BPF_LD | BPF_H | BPF_ABS,
    C_LD_B_ABS = BPF_LD | BPF_B | BPF_ABS,
    C_LD_W_IND = BPF_LD | BPF_W | BPF_IND,
    C_LD_H_IND = BPF_LD | BPF_H | BPF_IND,
    C_LD_B_IND = BPF_LD | BPF_B | BPF_IND,
    C_LD_LEN = BPF_LD | BPF_W | BPF_LEN,
    C_LD_IMM = BPF_LD | BPF_IMM,
    C_LD_MEM = BPF_LD | BPF_MEM,
    C_LDX_LEN = BPF_LDX | BPF_W | BPF_LEN,
    C_LDX_IMM = BPF_LDX | BPF_W | BPF_IMM,
    C_LDX_MEM = BPF_LDX | BPF_W | BPF_MEM,
    C_LDX_MSH = BPF_LDX | BPF_B | BPF_MSH,
    C_ST = BPF_ST,
    C_STX = BPF_STX,
    C_RET_K = BPF_RET | BPF_K,
    C_RET_A = BPF_RET | BPF_A,
    C_JA = BPF_JMP | BPF_JA,
    C_TAX = BPF_MISC | BPF_TAX,
    C_TXA = BPF_MISC | BPF_TXA,
    C_NEG = BPF_ALU | BPF_NEG,
};

// The decoded steps. Fused steps do what the two original instructions did, A included.
enum Step : std::uint8_t {
    S_RET_K,
    S_RET_A,
    S_LD_W,  // absolute loads
    S_LD_H,
    S_LD_B,
    S_LD_W_IND,
    S_LD_H_IND,
    S_LD_B_IND,
    S_LD_LEN,
    S_LD_IMM,
    S_LD_MEM,
    S_LDX_LEN,
    S_LDX_IMM,
    S_LDX_MEM,
    S_LDX_MSH,
    S_ST,
    S_STX,
    S_JA,
    S_JGT_K,
    S_JGE_K,
    S_JEQ_K,
    S_JSET_K,
    S_JGT_X,
    S_JGE_X,
    S_JEQ_X,
    S_JSET_X,
    S_ADD_K,
    S_SUB_K,
    S_MUL_K,
    S_DIV_K,
    S_MOD_K,
    S_AND_K,
    S_OR_K,
    S_XOR_K,
    S_LSH_K,
    S_RSH_K,
    S_ADD_X,
    S_SUB_X,
    S_MUL_X,
    S_DIV_X,
    S_MOD_X,
    S_AND_X,
    S_OR_X,
    S_XOR_X,
    S_LSH_X,
    S_RSH_X,
    S_NEG,
    S_TAX,
    S_TXA,
    // load (absolute) + conditional jump on a constant
    S_LD_B_JEQ,
    S_LD_H_JEQ,
    S_LD_W_JEQ,
    S_LD_B_JSET,
    S_LD_H_JSET,
    S_LD_W_JSET,
    S_LD_B_JGT,
    S_LD_H_JGT,
    S_LD_W_JGT,
    S_LD_B_JGE,
    S_LD_H_JGE,
    S_LD_W_JGE,
    // A &= k, then conditional jump on a constant
    S_AND_JEQ,
    S_COUNT
};

bool isJumpK(std::uint16_t code) {
    return code == (BPF_JMP | BPF_JEQ | BPF_K) || code == (BPF_JMP | BPF_JGT | BPF_K) ||
           code == (BPF_JMP | BPF_JGE | BPF_K) || code == (BPF_JMP | BPF_JSET | BPF_K);
}

// Column of the fused step for a "compare with constant" jump code (JEQ, JSET, JGT, JGE).
int jumpColumn(std::uint16_t code) {
    switch (BPF_OP(code)) {
        case BPF_JEQ:
            return 0;
        case BPF_JSET:
            return 1;
        case BPF_JGT:
            return 2;
        default:
            return 3;
    }
}

std::uint32_t load32(const std::uint8_t* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
std::uint32_t load16(const std::uint8_t* p) {
    std::uint16_t v;
    std::memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}

// The step for an ALU code (class BPF_ALU, any other bits already checked to be zero). False for
// NEG with X (NEG alone is C_NEG), unknown operations, and constants libpcap's validator refuses:
// a division by zero or a shift by 32 or more.
bool decodeAlu(std::uint16_t code, std::uint32_t k, std::uint8_t& step) {
    // By BPF_OP(code) >> 4: ADD SUB MUL DIV OR AND LSH RSH NEG MOD XOR.
    static constexpr Step K[] = {S_ADD_K, S_SUB_K, S_MUL_K, S_DIV_K, S_OR_K, S_AND_K,
                                 S_LSH_K, S_RSH_K, S_COUNT, S_MOD_K, S_XOR_K};
    static constexpr Step X[] = {S_ADD_X, S_SUB_X, S_MUL_X, S_DIV_X, S_OR_X, S_AND_X,
                                 S_LSH_X, S_RSH_X, S_COUNT, S_MOD_X, S_XOR_X};
    const std::size_t column = BPF_OP(code) >> 4;
    if (column >= std::size(K))
        return false;
    const bool constant = BPF_SRC(code) == BPF_K;
    step = (constant ? K : X)[column];
    if (step == S_COUNT)
        return false;
    if (!constant)
        return true;
    switch (BPF_OP(code)) {
        case BPF_DIV:
        case BPF_MOD:
            return k != 0;
        case BPF_LSH:
        case BPF_RSH:
            return k < 32;
        default:
            return true;
    }
}

}  // namespace

bool DecodedBpf::decode(const bpf_program& program) {
    m_ops.clear();
    m_usesMemory = false;
    const std::size_t n = program.bf_len;
    if (n == 0 || n > 0xffff || program.bf_insns == nullptr)
        return false;
    const bpf_insn* in = program.bf_insns;
    // Every path must end in a return: jumps only go forward and stay inside, and the last
    // instruction returns, so a run always ends within the program.
    if (BPF_CLASS(in[n - 1].code) != BPF_RET)
        return false;
    std::vector<Op> ops(n);
    for (std::size_t i = 0; i < n; ++i) {
        const bpf_insn& x = in[i];
        Op& op = ops[i];
        op.k = x.k;
        op.jt = op.jf = static_cast<std::uint16_t>(i + 1);
        auto jumps = [&](std::uint64_t t, std::uint64_t f) {
            if (i + 1 + t >= n || i + 1 + f >= n)
                return false;
            op.jt = static_cast<std::uint16_t>(i + 1 + t);
            op.jf = static_cast<std::uint16_t>(i + 1 + f);
            return true;
        };
        // Offsets from 2^31 up are Linux's ancillary-data loads: libpcap's business.
        auto absolute = [&](Step s, std::uint32_t size) {
            if (x.k >= 0x80000000u)
                return false;
            op.code = s;
            op.need = x.k + size;
            return true;
        };
        auto memory = [&](Step s) {
            if (x.k >= BPF_MEMWORDS)
                return false;
            m_usesMemory = true;
            op.code = s;
            return true;
        };
        bool ok = true;
        const std::uint16_t code = x.code;
        switch (code) {
            case C_RET_K:
                op.code = S_RET_K;
                break;
            case C_RET_A:
                op.code = S_RET_A;
                break;
            case C_LD_W_ABS:
                ok = absolute(S_LD_W, 4);
                break;
            case C_LD_H_ABS:
                ok = absolute(S_LD_H, 2);
                break;
            case C_LD_B_ABS:
                ok = absolute(S_LD_B, 1);
                break;
            case C_LD_W_IND:
                op.code = S_LD_W_IND;
                break;
            case C_LD_H_IND:
                op.code = S_LD_H_IND;
                break;
            case C_LD_B_IND:
                op.code = S_LD_B_IND;
                break;
            case C_LD_LEN:
                op.code = S_LD_LEN;
                break;
            case C_LD_IMM:
                op.code = S_LD_IMM;
                break;
            case C_LD_MEM:
                ok = memory(S_LD_MEM);
                break;
            case C_LDX_LEN:
                op.code = S_LDX_LEN;
                break;
            case C_LDX_IMM:
                op.code = S_LDX_IMM;
                break;
            case C_LDX_MEM:
                ok = memory(S_LDX_MEM);
                break;
            case C_LDX_MSH:
                op.code = S_LDX_MSH;
                break;
            case C_ST:
                ok = memory(S_ST);
                break;
            case C_STX:
                ok = memory(S_STX);
                break;
            case C_JA:
                op.code = S_JA;
                ok = jumps(x.k, x.k);
                break;
            case C_TAX:
                op.code = S_TAX;
                break;
            case C_TXA:
                op.code = S_TXA;
                break;
            case C_NEG:
                op.code = S_NEG;
                break;
            default:
                if (BPF_CLASS(code) == BPF_JMP) {
                    static constexpr Step K[] = {S_JEQ_K, S_JSET_K, S_JGT_K, S_JGE_K};
                    static constexpr Step X[] = {S_JEQ_X, S_JSET_X, S_JGT_X, S_JGE_X};
                    const std::uint16_t op16 = BPF_OP(code);
                    if ((code & ~(BPF_OP(0xff) | BPF_SRC(0xff))) != BPF_JMP ||
                        (op16 != BPF_JEQ && op16 != BPF_JSET && op16 != BPF_JGT &&
                         op16 != BPF_JGE)) {
                        ok = false;
                        break;
                    }
                    op.code = (BPF_SRC(code) == BPF_X ? X : K)[jumpColumn(code)];
                    ok = jumps(x.jt, x.jf);
                } else if (BPF_CLASS(code) == BPF_ALU &&
                           (code & ~(BPF_OP(0xff) | BPF_SRC(0xff))) == BPF_ALU) {
                    ok = decodeAlu(code, x.k, op.code);
                } else {
                    ok = false;
                }
        }
        if (!ok) {
            m_usesMemory = false;
            return false;
        }
    }
    // Fuse "load absolute; jump on constant" and "and constant; jump on constant". The jump keeps
    // its own slot, so a jump that lands on it (with another A) still runs it alone, and no
    // index moves.
    for (std::size_t i = 0; i + 1 < n; ++i) {
        const std::uint16_t next = in[i + 1].code;
        if (!isJumpK(next))
            continue;
        Op& op = ops[i];
        const Op& jump = ops[i + 1];
        const int column = jumpColumn(next);
        Step fused;
        if (op.code == S_LD_B || op.code == S_LD_H || op.code == S_LD_W) {
            static constexpr Step TABLE[3][4] = {
                {S_LD_W_JEQ, S_LD_W_JSET, S_LD_W_JGT, S_LD_W_JGE},
                {S_LD_H_JEQ, S_LD_H_JSET, S_LD_H_JGT, S_LD_H_JGE},
                {S_LD_B_JEQ, S_LD_B_JSET, S_LD_B_JGT, S_LD_B_JGE},
            };
            fused = TABLE[op.code - S_LD_W][column];
        } else if (op.code == S_AND_K && column == 0) {
            fused = S_AND_JEQ;
        } else {
            continue;
        }
        op.code = fused;
        op.k2 = jump.k;
        op.jt = jump.jt;
        op.jf = jump.jf;
    }
    m_ops = std::move(ops);
    return true;
}

// Threaded code: every step ends in its own indirect jump to the next, so each jump has its own
// branch history; one shared switch dispatch mispredicted far more (measured 15-30 % faster on
// the push benchmark's filters). The label table follows enum Step's order.
bool DecodedBpf::run(const std::byte* data, std::uint32_t caplen,
                     std::uint32_t wirelen) const noexcept {
    static const void* const STEPS[] = {
        &&RET_K,    &&RET_A,    &&LD_W,     &&LD_H,      &&LD_B,      &&LD_W_IND,  &&LD_H_IND,
        &&LD_B_IND, &&LD_LEN,   &&LD_IMM,   &&LD_MEM,    &&LDX_LEN,   &&LDX_IMM,   &&LDX_MEM,
        &&LDX_MSH,  &&ST,       &&STX,      &&JA,        &&JGT_K,     &&JGE_K,     &&JEQ_K,
        &&JSET_K,   &&JGT_X,    &&JGE_X,    &&JEQ_X,     &&JSET_X,    &&ADD_K,     &&SUB_K,
        &&MUL_K,    &&DIV_K,    &&MOD_K,    &&AND_K,     &&OR_K,      &&XOR_K,     &&LSH_K,
        &&RSH_K,    &&ADD_X,    &&SUB_X,    &&MUL_X,     &&DIV_X,     &&MOD_X,     &&AND_X,
        &&OR_X,     &&XOR_X,    &&LSH_X,    &&RSH_X,     &&NEG,       &&TAX,       &&TXA,
        &&LD_B_JEQ, &&LD_H_JEQ, &&LD_W_JEQ, &&LD_B_JSET, &&LD_H_JSET, &&LD_W_JSET, &&LD_B_JGT,
        &&LD_H_JGT, &&LD_W_JGT, &&LD_B_JGE, &&LD_H_JGE,  &&LD_W_JGE,  &&AND_JEQ,
    };
    static_assert(std::size(STEPS) == S_COUNT);
    const auto* p = reinterpret_cast<const std::uint8_t*>(data);
    std::uint32_t a = 0, x = 0;
    std::uint32_t mem[BPF_MEMWORDS];
    if (m_usesMemory)
        std::memset(mem, 0, sizeof mem);
    const Op* const ops = m_ops.data();
    const Op* op = ops;
    std::uint64_t at = 0;  // indexed loads: X + k, in bounds when at + size <= caplen

#define PUSHCAP_NEXT() goto* STEPS[op->code]
#define PUSHCAP_STEP() \
    ++op;              \
    PUSHCAP_NEXT()
#define PUSHCAP_BRANCH(cond)               \
    op = ops + ((cond) ? op->jt : op->jf); \
    PUSHCAP_NEXT()
#define PUSHCAP_FUSED(load, cond) \
    if (caplen < op->need)        \
        return false;             \
    a = load;                     \
    PUSHCAP_BRANCH(cond)

    PUSHCAP_NEXT();
RET_K:
    return op->k != 0;
RET_A:
    return a != 0;
LD_B_JEQ:
    PUSHCAP_FUSED(p[op->k], a == op->k2);
LD_H_JEQ:
    PUSHCAP_FUSED(load16(p + op->k), a == op->k2);
LD_W_JEQ:
    PUSHCAP_FUSED(load32(p + op->k), a == op->k2);
LD_B_JSET:
    PUSHCAP_FUSED(p[op->k], (a & op->k2) != 0);
LD_H_JSET:
    PUSHCAP_FUSED(load16(p + op->k), (a & op->k2) != 0);
LD_W_JSET:
    PUSHCAP_FUSED(load32(p + op->k), (a & op->k2) != 0);
LD_B_JGT:
    PUSHCAP_FUSED(p[op->k], a > op->k2);
LD_H_JGT:
    PUSHCAP_FUSED(load16(p + op->k), a > op->k2);
LD_W_JGT:
    PUSHCAP_FUSED(load32(p + op->k), a > op->k2);
LD_B_JGE:
    PUSHCAP_FUSED(p[op->k], a >= op->k2);
LD_H_JGE:
    PUSHCAP_FUSED(load16(p + op->k), a >= op->k2);
LD_W_JGE:
    PUSHCAP_FUSED(load32(p + op->k), a >= op->k2);
AND_JEQ:
    a &= op->k;
    PUSHCAP_BRANCH(a == op->k2);
JEQ_K:
    PUSHCAP_BRANCH(a == op->k);
JGT_K:
    PUSHCAP_BRANCH(a > op->k);
JGE_K:
    PUSHCAP_BRANCH(a >= op->k);
JSET_K:
    PUSHCAP_BRANCH((a & op->k) != 0);
JEQ_X:
    PUSHCAP_BRANCH(a == x);
JGT_X:
    PUSHCAP_BRANCH(a > x);
JGE_X:
    PUSHCAP_BRANCH(a >= x);
JSET_X:
    PUSHCAP_BRANCH((a & x) != 0);
JA:
    op = ops + op->jt;
    PUSHCAP_NEXT();
LD_W:
    if (caplen < op->need)
        return false;
    a = load32(p + op->k);
    PUSHCAP_STEP();
LD_H:
    if (caplen < op->need)
        return false;
    a = load16(p + op->k);
    PUSHCAP_STEP();
LD_B:
    if (caplen < op->need)
        return false;
    a = p[op->k];
    PUSHCAP_STEP();
LD_W_IND:
    at = std::uint64_t(x) + op->k;
    if (at + 4 > caplen)
        return false;
    a = load32(p + at);
    PUSHCAP_STEP();
LD_H_IND:
    at = std::uint64_t(x) + op->k;
    if (at + 2 > caplen)
        return false;
    a = load16(p + at);
    PUSHCAP_STEP();
LD_B_IND:
    at = std::uint64_t(x) + op->k;
    if (at + 1 > caplen)
        return false;
    a = p[at];
    PUSHCAP_STEP();
LD_LEN:
    a = wirelen;
    PUSHCAP_STEP();
LD_IMM:
    a = op->k;
    PUSHCAP_STEP();
LD_MEM:
    a = mem[op->k];
    PUSHCAP_STEP();
LDX_LEN:
    x = wirelen;
    PUSHCAP_STEP();
LDX_IMM:
    x = op->k;
    PUSHCAP_STEP();
LDX_MEM:
    x = mem[op->k];
    PUSHCAP_STEP();
LDX_MSH:
    if (op->k >= caplen)
        return false;
    x = std::uint32_t(p[op->k] & 0xf) << 2;
    PUSHCAP_STEP();
ST:
    mem[op->k] = a;
    PUSHCAP_STEP();
STX:
    mem[op->k] = x;
    PUSHCAP_STEP();
ADD_K:
    a += op->k;
    PUSHCAP_STEP();
SUB_K:
    a -= op->k;
    PUSHCAP_STEP();
MUL_K:
    a *= op->k;
    PUSHCAP_STEP();
DIV_K:
    a /= op->k;
    PUSHCAP_STEP();
MOD_K:
    a %= op->k;
    PUSHCAP_STEP();
AND_K:
    a &= op->k;
    PUSHCAP_STEP();
OR_K:
    a |= op->k;
    PUSHCAP_STEP();
XOR_K:
    a ^= op->k;
    PUSHCAP_STEP();
LSH_K:
    a <<= op->k;
    PUSHCAP_STEP();
RSH_K:
    a >>= op->k;
    PUSHCAP_STEP();
ADD_X:
    a += x;
    PUSHCAP_STEP();
SUB_X:
    a -= x;
    PUSHCAP_STEP();
MUL_X:
    a *= x;
    PUSHCAP_STEP();
DIV_X:
    if (x == 0)
        return false;
    a /= x;
    PUSHCAP_STEP();
MOD_X:
    if (x == 0)
        return false;
    a %= x;
    PUSHCAP_STEP();
AND_X:
    a &= x;
    PUSHCAP_STEP();
OR_X:
    a |= x;
    PUSHCAP_STEP();
XOR_X:
    a ^= x;
    PUSHCAP_STEP();
LSH_X:
    a = x < 32 ? a << x : 0;  // as libpcap: a shift by 32 or more clears A
    PUSHCAP_STEP();
RSH_X:
    a = x < 32 ? a >> x : 0;
    PUSHCAP_STEP();
NEG:
    a = 0u - a;
    PUSHCAP_STEP();
TAX:
    x = a;
    PUSHCAP_STEP();
TXA:
    a = x;
    PUSHCAP_STEP();

#undef PUSHCAP_FUSED
#undef PUSHCAP_BRANCH
#undef PUSHCAP_STEP
#undef PUSHCAP_NEXT
}

PacketFilter::PacketFilter(std::string target, std::string expression)
    : m_target(std::move(target)), m_expression(std::move(expression)) {
    // An empty program would accept everything (bpf_filter's rule), so reject explicitly.
    m_rejectInsn.code = BPF_RET | BPF_K;
    m_rejectInsn.k = 0;
    m_rejectAll.bf_len = 1;
    m_rejectAll.bf_insns = &m_rejectInsn;
    m_rejectProgram.libpcap = &m_rejectAll;
    m_rejectProgram.decoded.decode(m_rejectAll);
}

PacketFilter::~PacketFilter() {
    for (auto& c : m_compiled) {
        if (c->ok)
            pcap_freecode(&c->program);
    }
}

bool PacketFilter::compile(std::uint32_t linkType, bpf_program& program, std::string& error) const {
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(static_cast<int>(linkType),
                                                        static_cast<int>(router::MAX_CAPLEN),
                                                        PCAP_TSTAMP_PRECISION_NANO);
    if (dead == nullptr) {
        error = "libpcap cannot open a handle for link type " + std::to_string(linkType);
        return false;
    }
    const bool ok =
        pcap_compile(dead, &program, m_expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (!ok)
        error = pcap_geterr(dead);
    pcap_close(dead);
    return ok;
}

void PacketFilter::validate(std::uint32_t linkType) const {
    if (empty())
        return;
    bpf_program program{};
    std::string error;
    if (!compile(linkType, program, error)) {
        throw ConfigError("target '" + m_target + "': invalid FilterBPF \"" + m_expression +
                          "\": " + error);
    }
    pcap_freecode(&program);
}

const PacketFilter::Program* PacketFilter::programFor(std::uint32_t linkType) {
    if (empty())
        return nullptr;
    for (const auto& c : m_compiled) {
        if (c->linkType == linkType)
            return c->ok ? &c->run : &m_rejectProgram;
    }
    auto& c = *m_compiled.emplace_back(std::make_unique<Compiled>());
    c.linkType = linkType;
    c.ok = compile(linkType, c.program, c.error);
    if (!c.ok)
        return &m_rejectProgram;
    c.run.libpcap = &c.program;
    c.run.decoded.decode(c.program);
    return &c.run;
}

std::string PacketFilter::errorFor(std::uint32_t linkType) const {
    for (const auto& c : m_compiled) {
        if (c->linkType == linkType)
            return c->error;
    }
    return {};
}

}  // namespace pushcap::workers
