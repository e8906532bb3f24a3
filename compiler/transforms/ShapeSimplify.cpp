//===- ShapeSimplify.cpp - Symbolic shapes; folds shape arithmetic --------===//
//
// A forward analysis over the onnx ops of a function computes, for every
// tensor, its shape as symbolic sizes, and for small integer tensors (the
// shape tensors of the exporter) their contents as symbolic values. Sizes
// are polynomials over symbols: the graph inputs' named dimensions, plus a
// fresh symbol for every size nothing can be said about. The rewrites then
// make the shape sub-graphs dead (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "compiler/transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <map>
#include <optional>

namespace edgellm::transforms {
#define GEN_PASS_DEF_ONNXSIMPLIFYSHAPES
#include "compiler/transforms/Passes.h.inc"
} // namespace edgellm::transforms

using namespace mlir;
using namespace edgellm;
namespace eo = edgellm::onnx;

namespace {

/// A polynomial with integer coefficients over size symbols, kept canonical
/// (monomials sorted, no zero coefficients) so equal sizes compare equal.
struct Sym {
  using Monomial = std::vector<int>;
  std::map<Monomial, int64_t> terms;

  static Sym constant(int64_t c) {
    Sym s;
    if (c != 0)
      s.terms[{}] = c;
    return s;
  }
  static Sym symbol(int id) {
    Sym s;
    s.terms[{id}] = 1;
    return s;
  }
  std::optional<int64_t> getConstant() const {
    if (terms.empty())
      return 0;
    if (terms.size() == 1 && terms.begin()->first.empty())
      return terms.begin()->second;
    return std::nullopt;
  }
  bool operator==(const Sym &o) const { return terms == o.terms; }
  bool operator!=(const Sym &o) const { return !(*this == o); }

  Sym operator+(const Sym &o) const {
    Sym r = *this;
    for (auto &[m, c] : o.terms)
      if ((r.terms[m] += c) == 0)
        r.terms.erase(m);
    return r;
  }
  Sym operator-(const Sym &o) const { return *this + o * constant(-1); }
  Sym operator*(const Sym &o) const {
    Sym r;
    for (auto &[m1, c1] : terms)
      for (auto &[m2, c2] : o.terms) {
        Monomial m = m1;
        m.insert(m.end(), m2.begin(), m2.end());
        std::sort(m.begin(), m.end());
        if ((r.terms[m] += c1 * c2) == 0)
          r.terms.erase(m);
      }
    return r;
  }
  /// Exact division by a single-term divisor (constant times symbols).
  std::optional<Sym> divExact(const Sym &d) const {
    if (d.terms.size() != 1)
      return std::nullopt;
    auto &[dm, dc] = *d.terms.begin();
    if (dc == 0)
      return std::nullopt;
    Sym r;
    for (auto &[m, c] : terms) {
      if (c % dc != 0)
        return std::nullopt;
      std::multiset<int> have(m.begin(), m.end());
      for (int s : dm) {
        auto it = have.find(s);
        if (it == have.end())
          return std::nullopt;
        have.erase(it);
      }
      r.terms[Monomial(have.begin(), have.end())] += c / dc;
    }
    return r;
  }
};

using Syms = SmallVector<Sym>;

struct Info {
  std::optional<Syms> shape; ///< sizes, when the rank is known
  std::optional<Syms> data;  ///< contents of a small integer tensor
};

constexpr int64_t kMaxData = 64;

class Analysis {
public:
  explicit Analysis(func::FuncOp f) : func(f) {}

  void run() {
    // Arguments: named dimensions share symbols.
    for (BlockArgument arg : func.getArguments()) {
      auto t = dyn_cast<RankedTensorType>(arg.getType());
      if (!t)
        continue;
      auto names = func.getArgAttrOfType<ArrayAttr>(arg.getArgNumber(), "onnx.dim_params");
      Syms shape;
      for (int64_t d = 0; d < t.getRank(); ++d) {
        if (!t.isDynamicDim(d)) {
          shape.push_back(Sym::constant(t.getDimSize(d)));
          continue;
        }
        StringRef name;
        if (names && d < int64_t(names.size()))
          name = cast<StringAttr>(names[d]).getValue();
        if (name.empty()) {
          shape.push_back(fresh());
          continue;
        }
        auto it = named.find(name);
        if (it == named.end())
          it = named.insert({name, nextSymbol++}).first;
        shape.push_back(Sym::symbol(it->second));
      }
      info[arg].shape = shape;
    }
    func.walk([&](Operation *op) {
      if (op->getDialect() && op->getDialect()->getNamespace() == "onnx")
        visit(op);
    });
  }

  const Info *lookup(Value v) const {
    auto it = info.find(v);
    return it == info.end() ? nullptr : &it->second;
  }

private:
  Sym fresh() { return Sym::symbol(nextSymbol++); }

  std::optional<Syms> shapeOf(Value v) {
    if (auto it = info.find(v); it != info.end() && it->second.shape)
      return it->second.shape;
    auto t = dyn_cast<RankedTensorType>(v.getType());
    if (!t)
      return std::nullopt;
    Syms s;
    for (int64_t d : t.getShape())
      s.push_back(ShapedType::isDynamic(d) ? fresh() : Sym::constant(d));
    info[v].shape = s;
    return s;
  }
  std::optional<Syms> dataOf(Value v) {
    if (auto it = info.find(v); it != info.end() && it->second.data)
      return it->second.data;
    return std::nullopt;
  }
  std::optional<SmallVector<int64_t>> constInts(Value v) {
    auto d = dataOf(v);
    if (!d)
      return std::nullopt;
    SmallVector<int64_t> out;
    for (const Sym &s : *d) {
      auto c = s.getConstant();
      if (!c)
        return std::nullopt;
      out.push_back(*c);
    }
    return out;
  }
  static int64_t normAxis(int64_t a, int64_t rank) { return a < 0 ? a + rank : a; }

  void setShape(Value v, Syms s) { info[v].shape = std::move(s); }
  /// Contents are tracked for tensors of rank <= 1 only (shape tensors).
  void setData(Value v, Syms d) {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    if (int64_t(d.size()) <= kMaxData && t && t.getRank() <= 1)
      info[v].data = std::move(d);
  }

  std::optional<Syms> broadcast(ArrayRef<std::optional<Syms>> shapes) {
    size_t rank = 0;
    for (auto &s : shapes) {
      if (!s)
        return std::nullopt;
      rank = std::max(rank, s->size());
    }
    Syms out(rank, Sym::constant(1));
    for (auto &s : shapes)
      for (size_t i = 0; i < s->size(); ++i) {
        Sym &o = out[rank - s->size() + i];
        const Sym &d = (*s)[i];
        if (d.getConstant() == 1)
          continue;
        if (o.getConstant() == 1 || o == d)
          o = d;
        else if (d.getConstant() && !o.getConstant())
          o = d; // a static size wins over an unknown one it must equal
        else if (!d.getConstant() && o.getConstant())
          ;
        else
          o = fresh();
      }
    return out;
  }

  /// Element-wise integer arithmetic on contents (scalars broadcast).
  template <typename Fn>
  void dataBinary(Value a, Value b, Value out, Fn fn) {
    auto da = dataOf(a), db = dataOf(b);
    if (!da || !db)
      return;
    size_t n = std::max(da->size(), db->size());
    if ((da->size() != n && da->size() != 1) || (db->size() != n && db->size() != 1))
      return;
    Syms r;
    for (size_t i = 0; i < n; ++i) {
      std::optional<Sym> v = fn((*da)[da->size() == 1 ? 0 : i], (*db)[db->size() == 1 ? 0 : i]);
      if (!v)
        return;
      r.push_back(*v);
    }
    setData(out, r);
  }

  void visit(Operation *op);

  func::FuncOp func;
  llvm::DenseMap<Value, Info> info;
  llvm::StringMap<int> named;
  int nextSymbol = 0;
};

void Analysis::visit(Operation *op) {
  auto isSmallInt = [](Value v) {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    return t && t.hasStaticShape() && t.getRank() <= 1 &&
           t.getNumElements() <= kMaxData && isa<IntegerType>(t.getElementType()) &&
           !t.getElementType().isInteger(1);
  };
  llvm::TypeSwitch<Operation *>(op)
      .Case<eo::ConstantOp>([&](eo::ConstantOp c) {
        shapeOf(c.getOutput());
        DenseIntElementsAttr ints;
        if (isSmallInt(c.getOutput()) && (ints = dyn_cast<DenseIntElementsAttr>(c.getValue()))) {
          Syms d;
          for (const APInt &v : ints.getValues<APInt>())
            d.push_back(Sym::constant(v.getSExtValue()));
          setData(c.getOutput(), d);
        }
      })
      .Case<eo::CastOp, eo::NegOp, eo::NotOp, eo::SigmoidOp, eo::SqrtOp, eo::TanhOp,
            eo::SoftmaxOp, eo::TriluOp>([&](Operation *o) {
        if (auto s = shapeOf(o->getOperand(0)))
          setShape(o->getResult(0), *s);
        // Contents survive only casts that cannot change them (to 64-bit ints).
        if (auto c = dyn_cast<eo::CastOp>(o))
          if (getElementTypeOrSelf(c.getOutput().getType()).isInteger(64) &&
              isa<IntegerType>(getElementTypeOrSelf(c.getInput().getType())))
            if (auto d = dataOf(c.getInput()))
              setData(c.getOutput(), *d);
        if (auto n = dyn_cast<eo::NegOp>(o))
          if (auto d = dataOf(n.getX())) {
            Syms r;
            for (const Sym &s : *d)
              r.push_back(Sym::constant(0) - s);
            setData(n.getY(), r);
          }
      })
      .Case<eo::LayerNormalizationOp>([&](eo::LayerNormalizationOp o) {
        if (auto s = shapeOf(o.getX()))
          setShape(o.getY(), *s);
      })
      .Case<eo::AddOp, eo::SubOp, eo::MulOp, eo::DivOp, eo::PowOp, eo::EqualOp,
            eo::LessOp>([&](Operation *o) {
        Value a = o->getOperand(0), b = o->getOperand(1), r = o->getResult(0);
        if (auto s = broadcast({shapeOf(a), shapeOf(b)}))
          setShape(r, *s);
        if (isa<eo::AddOp>(o))
          dataBinary(a, b, r, [](const Sym &x, const Sym &y) -> std::optional<Sym> { return x + y; });
        else if (isa<eo::SubOp>(o))
          dataBinary(a, b, r, [](const Sym &x, const Sym &y) -> std::optional<Sym> { return x - y; });
        else if (isa<eo::MulOp>(o))
          dataBinary(a, b, r, [](const Sym &x, const Sym &y) -> std::optional<Sym> { return x * y; });
        else if (isa<eo::DivOp>(o) && isSmallInt(r))
          dataBinary(a, b, r, [](const Sym &x, const Sym &y) -> std::optional<Sym> {
            auto cx = x.getConstant(), cy = y.getConstant();
            if (cx && cy && *cy != 0)
              return Sym::constant(*cx / *cy);
            return x.divExact(y);
          });
        else if (isa<eo::EqualOp>(o))
          dataBinary(a, b, r, [](const Sym &x, const Sym &y) -> std::optional<Sym> {
            if (x == y)
              return Sym::constant(1);
            if (x.getConstant() && y.getConstant())
              return Sym::constant(0);
            // A size symbol (always >= 0) never equals a negative constant.
            auto isSymbol = [](const Sym &s) {
              return s.terms.size() == 1 && s.terms.begin()->first.size() == 1 &&
                     s.terms.begin()->second == 1;
            };
            if ((isSymbol(x) && y.getConstant() && *y.getConstant() < 0) ||
                (isSymbol(y) && x.getConstant() && *x.getConstant() < 0))
              return Sym::constant(0);
            return std::nullopt;
          });
      })
      .Case<eo::WhereOp>([&](eo::WhereOp o) {
        if (auto s = broadcast({shapeOf(o.getCondition()), shapeOf(o.getX()), shapeOf(o.getY())}))
          setShape(o.getOutput(), *s);
        auto c = dataOf(o.getCondition()), x = dataOf(o.getX()), y = dataOf(o.getY());
        if (!c || !x || !y)
          return;
        size_t n = std::max({c->size(), x->size(), y->size()});
        Syms r;
        for (size_t i = 0; i < n; ++i) {
          auto ci = (*c)[c->size() == 1 ? 0 : i].getConstant();
          if (!ci || (x->size() != n && x->size() != 1) || (y->size() != n && y->size() != 1))
            return;
          r.push_back(*ci ? (*x)[x->size() == 1 ? 0 : i] : (*y)[y->size() == 1 ? 0 : i]);
        }
        setData(o.getOutput(), r);
      })
      .Case<eo::ShapeOp>([&](eo::ShapeOp o) {
        auto s = shapeOf(o.getData());
        if (!s)
          return;
        int64_t r = s->size();
        int64_t start = std::clamp<int64_t>(normAxis(int64_t(o.getStart()), r), 0, r);
        int64_t end = o.getEnd() ? std::clamp<int64_t>(normAxis(int64_t(*o.getEnd()), r), 0, r) : r;
        Syms d(s->begin() + start, s->begin() + std::max(start, end));
        setShape(o.getShape(), {Sym::constant(int64_t(d.size()))});
        setData(o.getShape(), d);
      })
      .Case<eo::GatherOp>([&](eo::GatherOp o) {
        auto ds = shapeOf(o.getData()), is = shapeOf(o.getIndices());
        if (ds && is) {
          int64_t axis = normAxis(int64_t(o.getAxis()), ds->size());
          if (axis >= 0 && axis < int64_t(ds->size())) {
            Syms s(ds->begin(), ds->begin() + axis);
            s.append(is->begin(), is->end());
            s.append(ds->begin() + axis + 1, ds->end());
            setShape(o.getOutput(), s);
          }
        }
        auto data = dataOf(o.getData());
        auto idx = constInts(o.getIndices());
        if (data && idx && ds && ds->size() == 1) {
          Syms r;
          for (int64_t i : *idx) {
            if (i < 0)
              i += data->size();
            if (i < 0 || i >= int64_t(data->size()))
              return;
            r.push_back((*data)[i]);
          }
          setData(o.getOutput(), r);
        }
      })
      .Case<eo::UnsqueezeOp, eo::SqueezeOp>([&](Operation *o) {
        auto s = shapeOf(o->getOperand(0));
        bool unsq = isa<eo::UnsqueezeOp>(o);
        std::optional<SmallVector<int64_t>> axes;
        if (!isa<NoneType>(o->getOperand(1).getType()))
          axes = constInts(o->getOperand(1));
        if (s) {
          Syms out;
          if (unsq && axes) {
            int64_t rank = s->size() + axes->size();
            SmallVector<bool> isNew(rank, false);
            for (int64_t a : *axes)
              if (normAxis(a, rank) >= 0 && normAxis(a, rank) < rank)
                isNew[normAxis(a, rank)] = true;
            size_t j = 0;
            for (int64_t d = 0; d < rank; ++d)
              out.push_back(isNew[d] ? Sym::constant(1) : (*s)[j++]);
            if (j == s->size())
              setShape(o->getResult(0), out);
          } else if (!unsq) {
            int64_t rank = s->size();
            SmallVector<bool> drop(rank, false);
            if (axes) {
              for (int64_t a : *axes)
                if (normAxis(a, rank) >= 0 && normAxis(a, rank) < rank)
                  drop[normAxis(a, rank)] = true;
            } else {
              // Without axes every size 1 goes: only decidable when all are known.
              for (int64_t d = 0; d < rank; ++d) {
                if (!(*s)[d].getConstant())
                  return;
                drop[d] = (*s)[d].getConstant() == 1;
              }
            }
            for (int64_t d = 0; d < rank; ++d)
              if (!drop[d])
                out.push_back((*s)[d]);
            setShape(o->getResult(0), out);
          }
        }
        if (auto d = dataOf(o->getOperand(0)))
          setData(o->getResult(0), *d);
      })
      .Case<eo::ConcatOp>([&](eo::ConcatOp o) {
        SmallVector<std::optional<Syms>> shapes;
        for (Value v : o.getInputs())
          shapes.push_back(shapeOf(v));
        if (llvm::all_of(shapes, [](auto &s) { return s.has_value(); }) && !shapes.empty()) {
          Syms out = *shapes[0];
          int64_t axis = normAxis(int64_t(o.getAxis()), out.size());
          if (axis >= 0 && axis < int64_t(out.size())) {
            for (size_t i = 1; i < shapes.size(); ++i) {
              if (shapes[i]->size() != out.size())
                return;
              out[axis] = out[axis] + (*shapes[i])[axis];
            }
            setShape(o.getConcatResult(), out);
          }
        }
        Syms data;
        for (Value v : o.getInputs()) {
          auto d = dataOf(v);
          if (!d)
            return;
          data.append(d->begin(), d->end());
        }
        setData(o.getConcatResult(), data);
      })
      .Case<eo::SliceOp>([&](eo::SliceOp o) {
        auto s = shapeOf(o.getData());
        auto starts = dataOf(o.getStarts()), ends = dataOf(o.getEnds());
        if (!s || !starts || !ends || starts->size() != ends->size())
          return;
        int64_t rank = s->size();
        SmallVector<int64_t> axes, steps;
        if (isa<NoneType>(o.getAxes().getType())) {
          for (size_t i = 0; i < starts->size(); ++i)
            axes.push_back(i);
        } else if (auto a = constInts(o.getAxes())) {
          axes = *a;
        } else {
          return;
        }
        if (isa<NoneType>(o.getSteps().getType()))
          steps.assign(starts->size(), 1);
        else if (auto st = constInts(o.getSteps()))
          steps = *st;
        else
          return;
        if (axes.size() != starts->size() || steps.size() != starts->size())
          return;
        Syms out = *s;
        SmallVector<std::pair<int64_t, int64_t>> constRanges; // for data slicing
        for (size_t i = 0; i < axes.size(); ++i) {
          int64_t ax = normAxis(axes[i], rank);
          if (ax < 0 || ax >= rank)
            return;
          const Sym &dim = (*s)[ax];
          auto st = (*starts)[i].getConstant(), en = (*ends)[i].getConstant();
          auto dc = dim.getConstant();
          if (steps[i] != 1) {
            if (!dc || !st || !en)
              out[ax] = fresh();
            else {
              int64_t k = steps[i], b = *st < 0 ? *st + *dc : *st, e = *en < 0 ? *en + *dc : *en;
              if (k > 0) {
                b = std::clamp<int64_t>(b, 0, *dc);
                e = std::clamp<int64_t>(e, 0, *dc);
                out[ax] = Sym::constant(e > b ? (e - b + k - 1) / k : 0);
              } else {
                b = std::clamp<int64_t>(b, 0, *dc - 1);
                e = std::clamp<int64_t>(e, -1, *dc - 1);
                out[ax] = Sym::constant(b > e ? (b - e - k - 1) / (-k) : 0);
              }
            }
            continue;
          }
          // Step 1: [b, e) with the bounds possibly symbolic. Symbolic bounds
          // are taken to lie inside the tensor (the exporter slices within).
          Sym b = (*starts)[i], e = (*ends)[i];
          if (st && *st < 0)
            b = dc ? Sym::constant(std::max<int64_t>(0, *st + *dc)) : dim + b;
          if (en && *en < 0)
            e = dc ? Sym::constant(std::max<int64_t>(0, *en + *dc)) : dim + e;
          if (en && *en >= (int64_t(1) << 40))
            e = dim;
          if (dc && e.getConstant() && *e.getConstant() > *dc)
            e = dim;
          if (dc && b.getConstant() && *b.getConstant() > *dc)
            b = dim;
          out[ax] = e - b;
          if (b.getConstant() && e.getConstant())
            constRanges.push_back({*b.getConstant(), *e.getConstant()});
        }
        setShape(o.getOutput(), out);
        if (auto d = dataOf(o.getData()); d && rank == 1 && constRanges.size() == 1) {
          auto [b, e] = constRanges[0];
          if (b >= 0 && e <= int64_t(d->size()) && b <= e)
            setData(o.getOutput(), Syms(d->begin() + b, d->begin() + e));
        }
      })
      .Case<eo::ReshapeOp>([&](eo::ReshapeOp o) {
        auto in = shapeOf(o.getData());
        auto target = dataOf(o.getShape());
        if (!in || !target)
          return;
        Syms out;
        int minus = -1;
        for (size_t i = 0; i < target->size(); ++i) {
          auto c = (*target)[i].getConstant();
          if (c == 0 && o.getAllowzero() == 0) {
            if (i >= in->size())
              return;
            out.push_back((*in)[i]);
          } else if (c == -1) {
            minus = i;
            out.push_back(Sym::constant(1));
          } else {
            out.push_back((*target)[i]);
          }
        }
        if (minus >= 0) {
          Sym total = Sym::constant(1), known = Sym::constant(1);
          for (const Sym &d : *in)
            total = total * d;
          for (size_t i = 0; i < out.size(); ++i)
            if (int(i) != minus)
              known = known * out[i];
          auto q = total.divExact(known);
          out[minus] = q ? *q : fresh();
        }
        setShape(o.getReshaped(), out);
        if (auto d = dataOf(o.getData()))
          setData(o.getReshaped(), *d);
      })
      .Case<eo::ExpandOp>([&](eo::ExpandOp o) {
        auto in = shapeOf(o.getInput());
        auto target = dataOf(o.getShape());
        if (in && target)
          if (auto s = broadcast({in, target}))
            setShape(o.getOutput(), *s);
      })
      .Case<eo::ConstantOfShapeOp>([&](eo::ConstantOfShapeOp o) {
        auto target = dataOf(o.getInput());
        if (!target)
          return;
        for (const Sym &d : *target)
          if (auto c = d.getConstant(); c && *c < 0)
            return;
        setShape(o.getOutput(), *target);
        // A small integer fill of a constant shape is itself shape data.
        auto value = dyn_cast_or_null<DenseIntElementsAttr>(o.getValueAttr());
        auto n = constInts(o.getInput());
        if (value && !value.getElementType().isInteger(1) && n && n->size() == 1 &&
            (*n)[0] >= 0 && (*n)[0] <= kMaxData) {
          int64_t fill = (*value.getValues<APInt>().begin()).getSExtValue();
          setData(o.getOutput(), Syms((*n)[0], Sym::constant(fill)));
        }
      })
      .Case<eo::RangeOp>([&](eo::RangeOp o) {
        auto s = dataOf(o.getStart()), l = dataOf(o.getLimit()), d = dataOf(o.getDelta());
        if (s && l && d && s->size() == 1 && l->size() == 1 && d->size() == 1 &&
            (*d)[0].getConstant() == 1)
          setShape(o.getOutput(), {(*l)[0] - (*s)[0]});
        else
          setShape(o.getOutput(), {fresh()});
      })
      .Case<eo::MatMulOp>([&](eo::MatMulOp o) {
        auto a = shapeOf(o.getA()), b = shapeOf(o.getB());
        if (!a || !b || a->empty() || b->empty())
          return;
        Syms as = *a, bs = *b;
        bool aVec = as.size() == 1, bVec = bs.size() == 1;
        if (aVec)
          as.insert(as.begin(), Sym::constant(1));
        if (bVec)
          bs.push_back(Sym::constant(1));
        auto batch = broadcast({Syms(as.begin(), as.end() - 2), Syms(bs.begin(), bs.end() - 2)});
        if (!batch)
          return;
        Syms out = *batch;
        if (!aVec)
          out.push_back(as[as.size() - 2]);
        if (!bVec)
          out.push_back(bs.back());
        setShape(o.getY(), out);
      })
      .Case<eo::GemmOp>([&](eo::GemmOp o) {
        auto a = shapeOf(o.getA()), b = shapeOf(o.getB());
        if (a && b && a->size() == 2 && b->size() == 2)
          setShape(o.getY(), {(*a)[o.getTransA() ? 1 : 0], (*b)[o.getTransB() ? 0 : 1]});
      })
      .Case<eo::TransposeOp>([&](eo::TransposeOp o) {
        auto s = shapeOf(o.getData());
        if (!s)
          return;
        Syms out;
        if (auto perm = o.getPermAttr()) {
          for (Attribute p : perm) {
            int64_t i = cast<IntegerAttr>(p).getInt();
            if (i < 0 || i >= int64_t(s->size()))
              return;
            out.push_back((*s)[i]);
          }
        } else {
          out.assign(s->rbegin(), s->rend());
        }
        setShape(o.getTransposed(), out);
      })
      .Case<eo::ReduceMeanOp>([&](eo::ReduceMeanOp o) {
        auto s = shapeOf(o.getData());
        if (!s)
          return;
        int64_t rank = s->size();
        SmallVector<bool> red(rank, !o.getAxesAttr());
        if (auto axes = o.getAxesAttr())
          for (Attribute a : axes) {
            int64_t ax = normAxis(cast<IntegerAttr>(a).getInt(), rank);
            if (ax < 0 || ax >= rank)
              return;
            red[ax] = true;
          }
        Syms out;
        for (int64_t d = 0; d < rank; ++d)
          if (!red[d])
            out.push_back((*s)[d]);
          else if (o.getKeepdims())
            out.push_back(Sym::constant(1));
        setShape(o.getReduced(), out);
      })
      .Case<eo::SplitOp>([&](eo::SplitOp o) {
        auto s = shapeOf(o.getInput());
        if (!s)
          return;
        int64_t axis = normAxis(int64_t(o.getAxis()), s->size());
        if (axis < 0 || axis >= int64_t(s->size()))
          return;
        std::optional<SmallVector<int64_t>> sizes;
        if (!isa<NoneType>(o.getSplit().getType()))
          sizes = constInts(o.getSplit());
        for (auto [i, r] : llvm::enumerate(o.getOutputs())) {
          Syms out = *s;
          if (sizes && i < sizes->size())
            out[axis] = Sym::constant((*sizes)[i]);
          else if (auto c = (*s)[axis].getConstant(); c && !sizes)
            out[axis] = Sym::constant(*c / int64_t(o.getOutputs().size()));
          else
            out[axis] = fresh();
          setShape(r, out);
        }
      })
      .Default([&](Operation *o) {
        for (Value r : o->getResults())
          shapeOf(r);
      });
}

struct OnnxSimplifyShapesPass
    : public transforms::impl::OnnxSimplifyShapesBase<OnnxSimplifyShapesPass> {
  void runOnOperation() override;
};

} // namespace

static Type refine(Type current, const Syms &shape) {
  auto tt = dyn_cast<TensorType>(current);
  if (!tt)
    return current;
  SmallVector<int64_t> dims;
  for (const Sym &s : shape) {
    auto c = s.getConstant();
    dims.push_back(c && *c >= 0 ? *c : ShapedType::kDynamic);
  }
  if (auto rt = dyn_cast<RankedTensorType>(tt)) {
    if (rt.getRank() != int64_t(dims.size()))
      return current; // contradiction: keep what the file says
    for (int64_t i = 0; i < rt.getRank(); ++i)
      if (!rt.isDynamicDim(i))
        dims[i] = rt.getDimSize(i);
  }
  return RankedTensorType::get(dims, tt.getElementType());
}

void OnnxSimplifyShapesPass::runOnOperation() {
  func::FuncOp func = getOperation();
  Analysis analysis(func);
  analysis.run();
  OpBuilder b(func.getContext());

  auto constI64 = [&](Location loc, ArrayRef<int64_t> v) {
    auto t = RankedTensorType::get({int64_t(v.size())}, b.getI64Type());
    return eo::ConstantOp::create(b, loc, t, DenseIntElementsAttr::get(t, v));
  };

  SmallVector<Operation *> ops;
  func.walk([&](Operation *op) {
    if (op->getDialect() && op->getDialect()->getNamespace() == "onnx")
      ops.push_back(op);
  });
  for (Operation *op : ops) {
    // 1. Types.
    for (Value r : op->getResults()) {
      const Info *info = analysis.lookup(r);
      if (info && info->shape)
        r.setType(refine(r.getType(), *info->shape));
    }
    b.setInsertionPoint(op);
    // 2. Constant shape tensors.
    if (!isa<eo::ConstantOp>(op) && op->getNumResults() == 1) {
      Value r = op->getResult(0);
      const Info *info = analysis.lookup(r);
      auto t = dyn_cast<RankedTensorType>(r.getType());
      if (info && info->data && t && t.hasStaticShape() &&
          t.getNumElements() == int64_t(info->data->size()) &&
          isa<IntegerType>(t.getElementType()) && !t.getElementType().isInteger(1)) {
        SmallVector<APInt> vals;
        for (const Sym &s : *info->data) {
          auto c = s.getConstant();
          if (!c)
            break;
          vals.push_back(APInt(t.getElementTypeBitWidth(), *c, /*isSigned=*/true));
        }
        if (vals.size() == info->data->size()) {
          auto c = eo::ConstantOp::create(b, op->getLoc(), t, DenseElementsAttr::get(t, vals));
          r.replaceAllUsesWith(c);
          continue;
        }
      }
    }
    // 3. Targets known symbolically.
    if (auto rs = dyn_cast<eo::ReshapeOp>(op)) {
      const Info *in = analysis.lookup(rs.getData());
      const Info *tgt = analysis.lookup(rs.getShape());
      if (!in || !in->shape || !tgt || !tgt->data || isa<eo::ConstantOp>(rs.getShape().getDefiningOp()))
        continue;
      SmallVector<int64_t> target;
      int unknown = 0;
      for (size_t i = 0; i < tgt->data->size(); ++i) {
        const Sym &d = (*tgt->data)[i];
        if (auto c = d.getConstant(); c && *c != 0)
          target.push_back(*c);
        else if (rs.getAllowzero() == 0 && i < in->shape->size() && d == (*in->shape)[i])
          target.push_back(0);
        else
          target.push_back(-1), ++unknown;
      }
      if (unknown <= 1 && llvm::count(target, -1) <= 1)
        rs.getShapeMutable().assign(constI64(op->getLoc(), target));
    } else if (auto ex = dyn_cast<eo::ExpandOp>(op)) {
      const Info *in = analysis.lookup(ex.getInput());
      const Info *tgt = analysis.lookup(ex.getShape());
      if (!in || !in->shape || !tgt || !tgt->data || isa<eo::ConstantOp>(ex.getShape().getDefiningOp()))
        continue;
      SmallVector<int64_t> target;
      bool ok = true;
      size_t n = tgt->data->size(), r = in->shape->size();
      for (size_t i = 0; i < n && ok; ++i) {
        const Sym &d = (*tgt->data)[i];
        int64_t inIdx = int64_t(i) - int64_t(n - r);
        if (auto c = d.getConstant())
          target.push_back(*c);
        else if (inIdx >= 0 && d == (*in->shape)[inIdx])
          target.push_back(1);
        else
          ok = false;
      }
      if (ok)
        ex.getShapeMutable().assign(constI64(op->getLoc(), target));
    } else if (auto sl = dyn_cast<eo::SliceOp>(op)) {
      const Info *in = analysis.lookup(sl.getData());
      const Info *ends = analysis.lookup(sl.getEnds());
      if (!in || !in->shape || !ends || !ends->data ||
          isa<eo::ConstantOp>(sl.getEnds().getDefiningOp()))
        continue;
      SmallVector<int64_t> axes;
      if (isa<NoneType>(sl.getAxes().getType())) {
        for (size_t i = 0; i < ends->data->size(); ++i)
          axes.push_back(i);
      } else if (auto a = onnx::getConstantInts(sl.getAxes())) {
        axes = *a;
      } else {
        continue;
      }
      SmallVector<int64_t> newEnds;
      bool ok = axes.size() == ends->data->size();
      for (size_t i = 0; ok && i < axes.size(); ++i) {
        int64_t ax = axes[i] < 0 ? axes[i] + int64_t(in->shape->size()) : axes[i];
        const Sym &e = (*ends->data)[i];
        if (auto c = e.getConstant())
          newEnds.push_back(*c);
        else if (ax >= 0 && ax < int64_t(in->shape->size()) && e == (*in->shape)[ax])
          newEnds.push_back(std::numeric_limits<int64_t>::max());
        else
          ok = false;
      }
      if (ok)
        sl.getEndsMutable().assign(constI64(op->getLoc(), newEnds));
    }
  }
  // The function's results follow refined types.
  func.walk([&](func::ReturnOp ret) {
    func.setType(FunctionType::get(func.getContext(), func.getArgumentTypes(),
                                   ret.getOperandTypes()));
  });
}

void transforms::buildOnnxFoldPipeline(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  for (int round = 0; round < 2; ++round) {
    pm.addNestedPass<func::FuncOp>(createOnnxSimplifyShapes());
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
  }
}
