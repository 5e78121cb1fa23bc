"""Japanese text for qlongbench tasks, written by the project.

Written without spaces (word_separator ""), sentences end with "。", polite (です/ます) style
throughout. Filler: optional leading subordinate clause + subject (が) + optional time + place (で)
+ object (を) + verb (polite past). Each slot carries its own particle. Filler avoids the numeral
characters (一 ...) as well as digits.
"""

from __future__ import annotations

import random

from qlongbench.tasks.languages import Language

_CLAUSES = (
    "天気がようやく回復したので、", "誰にも気づかれないように、", "近所の人たちに見せるために、",
    "ほかの誰かが目を覚ます前に、", "犬たちが日陰で眠っているあいだに、", "雲が谷の上をゆっくり流れるなか、",
    "仕事はなかなか進みませんでしたが、", "雨がやむとすぐに、",
)
_SUBJECTS = (
    "年老いた粉屋が", "若い船乗りが", "村の先生が", "隣の人が", "パン屋の娘が", "疲れた旅人が", "町の議会が",
    "祖母が", "夜警が", "好奇心の強い子どもが", "川の渡し守が", "博物館の管理人が", "物静かな学生が", "駅長が",
    "庭師が", "旅の音楽家が", "港の書記が", "大工が", "引退した船長が", "図書館の司書が",
)
_TIMES = (
    "朝早く", "嵐のあとで", "夕食の前に", "雨の降る火曜日に", "去年の秋に", "祭りのあいだに", "夜遅く",
    "春の初めに", "長い仕事のあとで", "鐘が鳴っているあいだに",
)
_PLACES = (
    "市場の近くで", "学校の裏で", "川辺で", "狭い路地で", "港で", "丘の上で", "納屋の中で", "古い樫の木の下で",
    "線路のそばで", "広場で", "運河沿いで", "森のはずれで",
)
_OBJECTS = (
    "木の門を", "りんごのかごを", "壊れたランタンを", "古い海岸の地図を", "青い自転車を", "都から届いた手紙を",
    "台所の時計を", "革のブーツを", "漁網を", "はちみつの瓶を", "教会の鐘を", "種の箱を", "石の橋を",
    "重い冬のコートを", "庭の柵を", "新聞の束を", "背の高いはしごを",
)
_VERBS = (
    "修理しました", "塗り直しました", "運びました", "詳しく説明しました", "売りました", "借りました",
    "測りました", "掃除しました", "写真に撮りました", "数えました", "じっと眺めました", "調べました",
    "見つけました", "包みました", "返しました", "片づけました",
)


def _filler(rng: random.Random) -> str:
    sentence = rng.choice(_CLAUSES) if rng.random() < 0.4 else ""
    sentence += rng.choice(_SUBJECTS)
    if rng.random() < 0.5:
        sentence += rng.choice(_TIMES)
    sentence += rng.choice(_PLACES) + rng.choice(_OBJECTS) + rng.choice(_VERBS)
    return sentence + "。"


LANGUAGE = Language(
    code="ja",
    name="Japanese",
    script="Jpan",
    word_separator="",
    list_separator="、",
    instruction=(
        "以下のテキストの中に、特別なマジックナンバーがいくつか隠されています。必ず覚えておいてください。"
        "あとでそれらの数字について質問します。"
    ),
    needle="{key}の特別なマジックナンバーのひとつは{value}です。",
    question="提供されたテキストに出てくる{key}の特別なマジックナンバーは何ですか？",
    question_multivalue="提供されたテキストに出てくる{key}の特別なマジックナンバーをすべて挙げてください。",
    question_multiquery="提供されたテキストに出てくる{keys}の特別なマジックナンバーはそれぞれ何ですか？",
    none_rule="テキストに{key}の特別なマジックナンバーが出てこない場合は、「{none}」と答えてください。",
    answer_prefix="提供されたテキストに出てくる{key}の特別なマジックナンバーは",
    none_words=("なし", "ありません", "該当なし", "存在しない"),
    keys=(
        "りんご", "提灯", "灯台", "風車", "花瓶", "蝋燭", "毛布", "羽根", "手鏡", "指輪", "帽子", "雨傘", "椅子",
        "時計", "鉛筆", "封筒", "切手", "財布", "かばん", "眼鏡", "手袋", "靴下", "茶碗", "急須", "風鈴", "太鼓",
        "横笛", "金魚", "孔雀", "オウム", "イルカ", "くるみ", "レモン", "いちご", "ぶどう", "うちわ", "扇子", "火鉢",
        "はしご", "バケツ", "果樹園", "氷河", "羅針盤", "胡椒", "噴水", "灯籠", "蝶々", "鍵束",
    ),
    filler=_filler,
)
