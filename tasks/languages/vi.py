"""Vietnamese text for qlongbench tasks, written by the project.

Vietnamese is written one syllable per space-separated unit, so word_separator is " " and some keys
are two-syllable words (la bàn, mỏ neo); no key appears inside another. Vietnamese does not
inflect, so any combination of slots is grammatical. Filler: subject + verb (with đã) + object +
place + optional time + optional clause.
"""

from __future__ import annotations

from qlongbench.tasks.languages import Filler, Language, SyntheticTemplates

_SUBJECTS = (
    "Ông thợ xay già", "Một chàng thủy thủ trẻ", "Cô giáo làng", "Người hàng xóm của tôi",
    "Con gái ông thợ làm bánh", "Một lữ khách mệt mỏi", "Hội đồng thành phố", "Bà của chúng tôi", "Người gác đêm",
    "Một đứa trẻ tò mò", "Ông lái đò trên sông", "Người trông coi bảo tàng", "Một cậu sinh viên trầm lặng",
    "Ông trưởng ga", "Người làm vườn", "Một nhạc công lang thang", "Viên thư ký bến cảng", "Bác thợ mộc",
    "Một thuyền trưởng đã nghỉ hưu", "Cô thủ thư",
)
_VERBS = (
    "đã sửa", "đã sơn lại", "đã khiêng", "đã tả lại", "đã bỏ quên", "đã bán", "đã mượn", "đã đo", "đã lau sạch",
    "đã chụp ảnh", "đã đếm", "đã ngắm nhìn", "đã xem xét", "đã tìm thấy", "đã gói", "đã trả lại",
)
_OBJECTS = (
    "cánh cổng gỗ", "một giỏ táo", "chiếc đèn lồng bị vỡ", "tấm bản đồ cũ vùng bờ biển", "chiếc xe đạp màu xanh",
    "lá thư từ thủ đô", "chiếc đồng hồ trong bếp", "đôi ủng da", "những tấm lưới đánh cá", "hũ mật ong",
    "những quả chuông nhà thờ", "hộp hạt giống", "cây cầu đá", "chiếc áo khoác mùa đông dày cộp",
    "hàng rào khu vườn", "chồng báo cũ", "chiếc thang cao",
)
_PLACES = (
    "gần chợ", "sau trường học", "bên bờ sông", "trong con hẻm hẹp", "ở bến cảng", "trên đồi", "trong nhà kho",
    "dưới gốc sồi già", "cạnh đường ray", "giữa quảng trường", "dọc bờ kênh", "ở bìa rừng",
)
_TIMES = (
    "vào sáng sớm", "sau cơn bão", "trước bữa tối", "vào một ngày thứ Ba mưa gió", "vào mùa thu năm ngoái",
    "trong dịp lễ hội", "lúc đêm khuya", "vào đầu mùa xuân", "sau một ngày dài", "trong lúc chuông nhà thờ ngân vang",
)
_CLAUSES = (
    ", và không ai nói một lời nào về chuyện đó", " vì thời tiết cuối cùng cũng đã thay đổi",
    ", dù công việc tiến triển chậm chạp", " trong khi lũ chó ngủ dưới bóng râm",
    " khi những đám mây trôi qua thung lũng", " để hàng xóm có thể nhìn thấy",
    " trước khi bất kỳ ai khác thức dậy", " rồi về nhà uống trà",
)


_SYNTHETIC = SyntheticTemplates(
    words=(
        "táo", "chuối", "cam", "chanh", "nho", "dưa", "mận", "ổi", "xoài", "ớt", "tỏi", "gừng", "cơm", "cháo",
        "bánh", "phở", "sữa", "trà", "muối", "đường", "kẹo", "bàn", "ghế", "giường", "tủ", "cửa", "gương",
        "đèn", "nến", "chăn", "gối", "thảm", "túi", "ví", "ô", "mũ", "nón", "áo", "quần", "giày", "dép", "găng",
        "kính", "chuông", "thang", "búa", "xẻng", "xô", "rổ", "chai", "cốc", "bát", "đĩa", "thìa", "đũa", "dao",
        "sách", "bút", "thư", "báo", "xe", "thuyền", "tàu", "cầu", "tháp", "vườn", "rừng", "sông", "núi", "đảo",
        "biển", "cát", "mây", "mưa", "tuyết", "sấm", "nắng", "trăng", "sao", "gió", "chó", "mèo", "ngựa", "bò",
        "cừu", "dê", "cáo", "sói", "gấu", "thỏ", "chuột", "cú", "quạ", "vịt", "ngỗng", "cá", "ếch", "ốc", "ong",
        "kiến", "nhện", "gà", "heo", "voi", "hổ", "khỉ", "rắn", "nhanh", "chậm", "sáng", "tối", "nóng", "lạnh",
        "cũ", "mới", "đắng", "ngọt", "nặng", "nhẹ", "đẹp", "vui", "buồn", "hiền", "cao", "thấp", "nhảy", "hát",
        "chạy", "bơi", "đọc", "viết", "vẽ", "ngủ", "cười", "ăn", "uống",
    ),
    cwe_instruction='Dưới đây là một danh sách từ có đánh số. Trong số các từ này, có những từ xuất hiện nhiều hơn những từ khác. Hãy ghi nhớ những từ xuất hiện nhiều nhất.',
    cwe_question='Câu hỏi: {n} từ xuất hiện nhiều nhất trong danh sách trên là những từ nào?',
    cwe_answer_prefix='Trả lời: {n} từ xuất hiện nhiều nhất trong danh sách là:',
    fwe_instruction='Hãy đọc đoạn văn bản mã hóa sau và đếm số lần xuất hiện của mỗi từ mã hóa. Tìm ba từ mã hóa xuất hiện nhiều nhất.',
    fwe_question="Câu hỏi: Không cần giải thích. Hãy bỏ qua các dấu chấm '....'. Ba từ nào xuất hiện nhiều nhất trong đoạn văn bản mã hóa ở trên?",
    fwe_answer_prefix='Trả lời: Theo đoạn văn bản mã hóa ở trên, ba từ xuất hiện nhiều nhất là:',
    vt_instruction='Hãy ghi nhớ và theo dõi (các) chuỗi phép gán biến được ẩn trong đoạn văn bản sau.',
    vt_question='Câu hỏi: Tìm tất cả các biến được gán giá trị {value} trong đoạn văn bản ở trên.',
    vt_answer_prefix='Trả lời: Theo (các) chuỗi phép gán biến trong đoạn văn bản ở trên, có {n} biến được gán giá trị {value}, đó là:',
)


LANGUAGE = Language(
    code="vi",
    name="Vietnamese",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "Trong văn bản dưới đây có ẩn một số con số ma thuật đặc biệt. Hãy ghi nhớ chúng thật kỹ. "
        "Sau đó tôi sẽ hỏi bạn về những con số này."
    ),
    needle="Một trong những con số ma thuật đặc biệt dành cho {key} là: {value}.",
    question="Con số ma thuật đặc biệt dành cho {key} được nhắc đến trong văn bản là gì?",
    question_multivalue="Tất cả các con số ma thuật đặc biệt dành cho {key} được nhắc đến trong văn bản là gì?",
    question_multiquery="Các con số ma thuật đặc biệt dành cho {keys} được nhắc đến trong văn bản là gì?",
    none_rule="Nếu văn bản không nhắc đến con số ma thuật đặc biệt nào dành cho {key}, hãy trả lời \"{none}\".",
    answer_prefix="Con số ma thuật đặc biệt dành cho {key} được nhắc đến trong văn bản là",
    none_words=("không có", "không", "không có số nào", "không được nhắc đến"),
    keys=(
        "táo", "dòng sông", "đèn lồng", "vĩ cầm", "bến cảng", "đồng cỏ", "la bàn", "chim ưng", "hạt tiêu", "cửa sổ",
        "sấm sét", "yên ngựa", "vườn cây", "sỏi", "nến", "gương", "mỏ neo", "chăn bông", "hoa tulip", "óc chó",
        "ống khói", "ruy băng", "mùa gặt", "ấm đun nước", "cẩm thạch", "lông vũ", "hòn đảo", "cái thang", "con vẹt",
        "mỏ đá", "gà trống", "cặp sách", "ấm trà", "chiếc ô", "nhung", "còi", "sữa chua", "quả sồi", "cái xô",
        "cá heo", "than hồng", "chanh", "anh đào", "sư tử", "cái trống", "con bướm", "cánh diều", "chìa khóa",
        "dưa hấu",
    ),
    filler=Filler(slots=(_SUBJECTS, _VERBS, _OBJECTS, _PLACES), times=_TIMES, clauses=_CLAUSES),
    fact_templates=None,
    synthetic_templates=_SYNTHETIC,
)
