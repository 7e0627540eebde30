// SPDX-License-Identifier: GPL-3.0-or-later
// Layers, parameter-creation modes, strict loading and the attention kernel.
#include "common/error.h"
#include "support/test_support.h"
#include "tensor_io/attention_kernel.h"
#include "tensor_io/layers.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"

#include <QtTest>
#include <torch/torch.h>

using namespace psa;

namespace {

struct TwoLayerImpl : torch::nn::Module {
    TwoLayerImpl()
    {
        proj = register_module("proj", Linear(4, 8));
        norm = register_module("norm", GroupNorm(2, 8));
        conv = register_module("conv", Conv2d(8, 3, 3, 1, 1));
    }
    Linear proj{nullptr};
    GroupNorm norm{nullptr};
    Conv2d conv{nullptr};
};
TORCH_MODULE(TwoLayer);

} // namespace

class TestStateDict : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void meta_mode_allocates_nothing()
    {
        ParamInitScope scope(ParamInit::Meta);
        Linear big(100000, 100000); // 40 GB in fp32 if it were allocated
        QVERIFY(big->weight.is_meta());
        QCOMPARE(big->weight.sizes().vec(), (std::vector<int64_t>{100000, 100000}));
        QCOMPARE(parameter_count(*big), int64_t(100000) * 100000 + 100000);
    }

    void scopes_nest_and_restore()
    {
        QCOMPARE(current_param_init(), ParamInit::Random);
        {
            ParamInitScope a(ParamInit::Empty);
            {
                ParamInitScope b(ParamInit::Meta);
                QCOMPARE(current_param_init(), ParamInit::Meta);
            }
            QCOMPARE(current_param_init(), ParamInit::Empty);
        }
        QCOMPARE(current_param_init(), ParamInit::Random);
        GroupNorm norm(2, 4);
        QVERIFY(torch::equal(norm->weight, torch::ones({4})));
    }

    void layers_match_torch_functional()
    {
        torch::manual_seed(0);
        Linear lin(5, 3);
        const auto x = torch::randn({2, 5});
        QVERIFY(torch::allclose(lin(x), torch::matmul(x, lin->weight.t()) + lin->bias));
        LayerNorm ln(5);
        QVERIFY(torch::allclose(ln(x), torch::layer_norm(x, {5})));
    }

    void strict_load_copies_everything()
    {
        TwoLayer src, dst;
        StateDict dict;
        for (const auto& p : src->named_parameters())
            dict[p.key()] = p.value().detach().to(torch::kFloat16);
        load_into(*dst, dict, "test");
        QVERIFY(torch::allclose(dst->proj->weight, src->proj->weight.to(torch::kFloat16).to(torch::kFloat)));
        QCOMPARE(dst->proj->weight.scalar_type(), torch::kFloat32); // the module's dtype is kept
    }

    void strict_load_reports_all_problems_at_once()
    {
        TwoLayer src, dst;
        StateDict dict;
        for (const auto& p : src->named_parameters())
            dict[p.key()] = p.value().detach();
        dict.erase("proj.bias");
        dict["conv.weight"] = torch::zeros({3, 9, 3, 3});
        dict["extra.weight"] = torch::zeros({1});
        dict["position_ids"] = torch::zeros({1});
        const auto before = dst->conv->weight.clone();
        LoadOptions opts;
        opts.ignore_unexpected = [](const std::string& n) { return n == "position_ids"; };
        try {
            load_into(*dst, dict, "unet/diffusion_pytorch_model.safetensors", opts);
            QFAIL("expected ModelLoadError");
        } catch (const ModelLoadError& e) {
            const std::string msg = e.what();
            QVERIFY2(msg.find("unet/diffusion_pytorch_model.safetensors: 1 missing, 1 unexpected, 1 mis-shaped") == 0,
                     msg.c_str());
            QVERIFY(msg.find("missing: proj.bias") != std::string::npos);
            QVERIFY(msg.find("unexpected: extra.weight") != std::string::npos);
            QVERIFY(msg.find("conv.weight: expected [3, 8, 3, 3], got [3, 9, 3, 3]") != std::string::npos);
            QVERIFY(msg.find("position_ids") == std::string::npos);
        }
        QVERIFY(torch::equal(before, dst->conv->weight)); // nothing copied
    }

    void load_from_mapped_file_and_release_pages()
    {
        test::TempDir dir;
        TwoLayer src, dst;
        NamedTensors tensors;
        for (const auto& p : src->named_parameters())
            tensors.emplace_back(p.key(), p.value().detach());
        save_safetensors(dir / "w.safetensors", tensors);
        const auto dict = load_state_dict(dir / "w.safetensors");
        load_into(*dst, dict, "w.safetensors");
        QVERIFY(torch::equal(dst->conv->weight, src->conv->weight));
    }

    void attention_kernel_matches_naive_softmax()
    {
        torch::manual_seed(3);
        const auto q = torch::randn({2, 3, 5, 4}), k = torch::randn({2, 3, 7, 4}), v = torch::randn({2, 3, 7, 4});
        const auto ref = torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-1, -2)) / 2.0, -1), v);
        QVERIFY(torch::allclose(scaled_dot_product_attention(q, k, v), ref, 1e-5, 1e-6));
        auto mask = torch::zeros({5, 7});
        mask.index_put_({torch::indexing::Slice(), 6}, -std::numeric_limits<float>::infinity());
        const auto masked = scaled_dot_product_attention(q, k, v, mask);
        const auto ref2 = torch::matmul(torch::softmax(torch::matmul(q, k.slice(2, 0, 6).transpose(-1, -2)) / 2.0, -1),
                                        v.slice(2, 0, 6));
        QVERIFY(torch::allclose(masked, ref2, 1e-5, 1e-6));
    }
};

QTEST_APPLESS_MAIN(TestStateDict)
#include "test_state_dict.moc"
